package dev.kaizen.cli;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.serving.follow.VersionFollower;
import dev.kaizen.serving.rollout.VllmRollout;

@Command(name = "rollout", mixinStandardHelpOptions = true, subcommands = RolloutCommand.Vllm.class,
        description = "Roll verified versions out to another serving system as they are announced.")
final class RolloutCommand {

    @Command(name = "vllm", mixinStandardHelpOptions = true,
            description = "Follow model-updates and load each verified adapter into a vLLM server through its runtime LoRA API "
                    + "(POST /v1/load_lora_adapter as <model-id>-v<version>, then unload the previous one). The vLLM server "
                    + "needs --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, and must read --adapter-dir.")
    static final class Vllm implements Callable<Integer> {

        @Spec
        CommandSpec spec;

        @Option(names = "--url", required = true, paramLabel = "URL", description = "The vLLM server, e.g. http://vllm:8000.")
        URI url;

        @Mixin
        FollowOptions follow;

        @Option(names = "--adapter-dir", required = true, paramLabel = "DIR",
                description = "Where verified adapters are put for vLLM: a directory it reads at the same path (a shared volume).")
        Path adapterDir;

        @Option(names = "--api-key-env", paramLabel = "VAR", description = "Environment variable holding vLLM's API key, if it has one.")
        String apiKeyEnv;

        @Option(names = "--attempts", defaultValue = "5", description = "Loads tried per version before it is refused (default: ${DEFAULT-VALUE}).")
        int attempts;

        @Option(names = "--backoff", defaultValue = "PT2S", paramLabel = "DURATION",
                description = "Wait before the second attempt, growing linearly (ISO-8601, default: ${DEFAULT-VALUE}).")
        Duration backoff;

        @Override
        public Integer call() throws Exception {
            String apiKey = apiKeyEnv == null ? null : System.getenv(apiKeyEnv);
            if (apiKeyEnv != null && (apiKey == null || apiKey.isBlank())) {
                spec.commandLine().getErr().println("kaizen rollout vllm: the environment variable " + apiKeyEnv + " is not set");
                return 2;
            }
            Files.createDirectories(adapterDir);
            VllmRollout rollout = new VllmRollout(new VllmRollout.Options(url, adapterDir, follow.modelId, apiKey, attempts, backoff));
            VersionFollower follower = VersionFollower.start(follow.options(), rollout);
            spec.commandLine().getOut().printf("vLLM at %s serves %s as %s; following %s%n", url, follow.modelId,
                    VllmRollout.name(follow.modelId, rollout.version()), follow.updatesTopic);
            spec.commandLine().getOut().flush();
            Runtime.getRuntime().addShutdownHook(new Thread(follower::close, "kaizen-rollout-shutdown"));
            Thread.currentThread().join();
            return 0;
        }
    }
}
