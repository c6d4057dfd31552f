package dev.kaizen.cli;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
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
import dev.kaizen.serving.upstream.UpstreamBackend;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a model over OpenAI's chat API and the chat page, following model-updates: each verified "
                + "version is swapped in as it is announced; answers go to chat-responses, votes to chat-feedback. With "
                + "--upstream instead of --model, answers come from an OpenAI-compatible server (vLLM with the versions "
                + "`rollout vllm` loads, or another Kaizen serve), asked for each version by name.")
final class ServeCommand implements Callable<Integer> {

    /** How often the upstream's model list is read: a version it loads is routed to within this. */
    static final Duration UPSTREAM_LIST_EVERY = Duration.ofSeconds(2);

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR", description = "The base model: a Hugging Face model directory (or --upstream).")
    Path model;

    @Option(names = "--upstream", paramLabel = "URL",
            description = "An OpenAI-compatible server (http://host:port) that generates the answers instead (or --model).")
    URI upstream;

    @Option(names = "--upstream-model-name", defaultValue = UpstreamBackend.Options.DEFAULT_NAME_TEMPLATE, paramLabel = "TEMPLATE",
            description = "The name the upstream serves a version under, {model_id} and {version} replaced; version 0 is also "
                    + "found as the base model its adapters name as parent, or as the model id itself (vLLM's --served-model-name) "
                    + "(default: ${DEFAULT-VALUE}, as `rollout vllm` loads them).")
    String upstreamModelName;

    @Option(names = "--upstream-token-env", paramLabel = "VAR", description = "Environment variable holding the upstream's bearer token.")
    String upstreamTokenEnv;

    @Option(names = "--upstream-timeout", defaultValue = "60", paramLabel = "SECONDS",
            description = "How long an answer may wait for the upstream's first byte, or a stream for its next chunk: 504 after "
                    + "(default: ${DEFAULT-VALUE}); an upstream that cannot be reached is a 502 at once.")
    long upstreamTimeout;

    @Option(names = "--upstream-max-connections", defaultValue = "64", paramLabel = "N",
            description = "Requests sent to the upstream at once, each on a connection of its own; more wait up to the timeout, "
                    + "then get 503 (default: ${DEFAULT-VALUE}).")
    int upstreamMaxConnections;

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
        if ((model == null) == (upstream == null)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "give either --model (serve a model here) or --upstream "
                    + "(stand in front of a server that does), not " + (model == null ? "neither" : "both"));
        }
        if (upstream != null && (upstream.getScheme() == null || !upstream.getScheme().matches("https?") || upstream.getHost() == null)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--upstream must be an http:// or https:// URL, not " + upstream);
        }
        if (upstreamTimeout < 1 || upstreamMaxConnections < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--upstream-timeout and --upstream-max-connections must be at least 1");
        }
        Listening.requireFree(host, port);
        ChatServer.Options http = new ChatServer.Options(host, port, token, maxBodyBytes);
        Serving serving = model != null
                ? Serving.start(new Serving.Options(new ModelFollower.Options(model, follow.options(), device.device(), canaryFraction),
                        responsesTopic, feedbackTopic, http))
                : Serving.gateway(new UpstreamBackend.Options(upstream, upstreamModelName, Listening.token(upstreamTokenEnv),
                        Duration.ofSeconds(upstreamTimeout), upstreamMaxConnections, UPSTREAM_LIST_EVERY, follow.options(), canaryFraction),
                        responsesTopic, feedbackTopic, http);
        spec.commandLine().getOut().printf("serving %s@%d on http://%s:%d/ (following %s%s)%n", follow.modelId,
                serving.backend().version(), host, serving.port(), follow.updatesTopic, upstream == null ? "" : "; answers from " + upstream);
        spec.commandLine().getOut().flush();
        // Ctrl-C or SIGTERM: stop taking requests, then let go of Kafka and the models.
        Runtime.getRuntime().addShutdownHook(new Thread(serving::close, "kaizen-serve-shutdown"));
        Thread.currentThread().join();
        return 0;
    }
}
