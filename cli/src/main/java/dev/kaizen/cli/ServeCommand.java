package dev.kaizen.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.serving.Serving;
import dev.kaizen.serving.api.ChatServer;
import dev.kaizen.serving.follow.ModelFollower;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a model over OpenAI's chat API and the chat page, following model-updates: each verified "
                + "version is swapped in as it is announced; answers go to chat-responses, votes to chat-feedback.")
final class ServeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The base model: a Hugging Face model directory.")
    Path model;

    @Mixin
    FollowOptions follow;

    @Option(names = "--port", defaultValue = "8080", description = "HTTP port (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--host", defaultValue = "0.0.0.0",
            description = "Address to listen on (default: ${DEFAULT-VALUE}, as in a container; beyond loopback, set --token-env).")
    String host;

    @Option(names = "--token-env", paramLabel = "VAR",
            description = "Name of an environment variable holding a bearer token that every API route then requires.")
    String tokenEnv;

    @Option(names = "--max-body-bytes", defaultValue = "1048576", paramLabel = "N",
            description = "Larger request bodies get 413 (default: ${DEFAULT-VALUE}).")
    long maxBodyBytes;

    @Option(names = "--responses-topic", defaultValue = "chat-responses", paramLabel = "TOPIC", description = "Default: ${DEFAULT-VALUE}.")
    String responsesTopic;

    @Option(names = "--feedback-topic", defaultValue = "chat-feedback", paramLabel = "TOPIC", description = "Default: ${DEFAULT-VALUE}.")
    String feedbackTopic;

    @Option(names = "--canary-fraction", defaultValue = "0.1", paramLabel = "F",
            description = "The share of conversations a release on canary trial answers (by a hash of the request's 'user', "
                    + "else at random per request); the others get the promoted release (default: ${DEFAULT-VALUE}).")
    double canaryFraction;

    @Mixin
    DeviceOption device;

    @Override
    public Integer call() throws Exception {
        String token = Listening.token(tokenEnv);
        if (!(canaryFraction >= 0 && canaryFraction <= 1)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--canary-fraction must lie in [0, 1], not " + canaryFraction);
        }
        Listening.requireFree(host, port);
        Serving serving = Serving.start(new Serving.Options(new ModelFollower.Options(model, follow.options(), device.device(), canaryFraction),
                responsesTopic, feedbackTopic, new ChatServer.Options(host, port, token, maxBodyBytes)));
        spec.commandLine().getOut().printf("serving %s@%d on http://%s:%d/ (following %s)%n", follow.modelId,
                serving.follower().version(), host, serving.port(), follow.updatesTopic);
        spec.commandLine().getOut().flush();
        // Ctrl-C or SIGTERM: stop taking requests, then let go of Kafka and the models.
        Runtime.getRuntime().addShutdownHook(new Thread(serving::close, "kaizen-serve-shutdown"));
        Thread.currentThread().join();
        return 0;
    }
}
