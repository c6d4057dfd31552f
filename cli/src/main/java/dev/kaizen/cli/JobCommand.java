package dev.kaizen.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.jobs.continual.ContinualKtoJob;
import dev.kaizen.jobs.continual.JobConfig;

/** {@code kaizen job}: the continual-kto job on an embedded MiniCluster, configured as on a cluster. */
@Command(name = "job", mixinStandardHelpOptions = true,
        description = {"Runs the continual-kto job on an embedded Flink MiniCluster (RocksDB, checkpoints to the configured",
                "directory) until stopped. On a Flink cluster the same jar runs with",
                "  flink run -c dev.kaizen.jobs.continual.ContinualKtoJob kaizen-job.jar --config kaizen.yaml [-D key=value]...",
                "Every option and its default: kaizen-defaults.yaml in the jar (see the README)."})
final class JobCommand implements Callable<Integer> {

    @Option(names = "--config", paramLabel = "FILE", description = "kaizen.yaml: the options that differ from the defaults.")
    Path config;

    @Option(names = "-D", paramLabel = "KEY=VALUE", mapFallbackValue = "",
            description = "Overrides one option, by its dotted path: -D training.learning-rate=1e-4, "
                    + "-D flink.parallelism.default=4, -D kafka.properties.security.protocol=SASL_SSL.")
    Map<String, String> overrides = new LinkedHashMap<>();

    @Option(names = "--print-config", description = "Prints the resolved configuration and exits.")
    boolean print;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        List<String> pairs = new ArrayList<>();
        overrides.forEach((k, v) -> pairs.add(k + "=" + v));
        JobConfig resolved = JobConfig.load(config, pairs);
        if (print) {
            spec.commandLine().getOut().print(resolved.toYaml());
            spec.commandLine().getOut().flush();
            return 0;
        }
        ContinualKtoJob.run(resolved);
        return 0;
    }
}
