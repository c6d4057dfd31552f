package dev.kaizen.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.cli.demo.Demo;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "The whole loop in one process: a Kafka broker, the continual-kto Flink job, serving with the chat page "
                + "on http://127.0.0.1:PORT/ (everything bound to --host), and simulated users who like polite answers "
                + "that are right (10%% of their votes the other way) chatting and voting through the HTTP API. Prints a line per "
                + "announced version with the thumbs-up rate and the share of right answers; at the end a summary and a PNG chart "
                + "of the thumbs-up rate by version.")
final class DemoCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--users", defaultValue = "6", paramLabel = "N",
            description = "Simulated users chatting at once; 0 leaves the voting to you at the page (default: ${DEFAULT-VALUE}).")
    int users;

    @Option(names = "--rate", defaultValue = "6", paramLabel = "CHATS/S",
            description = "Chats per second the simulated users make together (default: ${DEFAULT-VALUE}).")
    double rate;

    @Option(names = "--noise", defaultValue = "0.1", paramLabel = "P",
            description = "Share of simulated votes cast against the users' taste (default: ${DEFAULT-VALUE}).")
    double noise;

    @Option(names = "--minutes", defaultValue = "0", paramLabel = "N", description = "Stop after N minutes; 0 runs until Ctrl-C (default).")
    double minutes;

    @Option(names = "--port", defaultValue = "8080", paramLabel = "P", description = "The chat page's port (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--host", defaultValue = "127.0.0.1", paramLabel = "ADDR",
            description = "Address the chat page, Flink and Kafka listen on (default: ${DEFAULT-VALUE}, this machine only).")
    String host;

    @Option(names = "--token-env", paramLabel = "VAR",
            description = "Name of an environment variable holding a bearer token that the chat API then requires.")
    String tokenEnv;

    @Option(names = "--summary", paramLabel = "FILE.json",
            description = "Write {\"initial_rate\", \"final_rate\", \"versions\", …} here at the end.")
    Path summary;

    @Option(names = "--chart", defaultValue = "kaizen-demo.png", paramLabel = "FILE.png",
            description = "The chart of the thumbs-up rate by version (default: ${DEFAULT-VALUE}).")
    Path chart;

    @Option(names = "--cache-dir", paramLabel = "DIR", description = "Where the trained base model is kept (default: ~/.cache/kaizen).")
    Path cacheDir;

    @Option(names = "--brigade-at", paramLabel = "MIN",
            description = "From this minute a brigade votes too: fresh accounts, each under the per-user cap, that want curt answers.")
    Double brigadeAt;

    @Option(names = "--brigade-share", defaultValue = "0.6", paramLabel = "P",
            description = "The brigade's share of all votes once it votes (default: ${DEFAULT-VALUE}).")
    double brigadeShare;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (users < 0 || rate <= 0 || noise < 0 || noise > 1 || minutes < 0 || (brigadeAt != null && brigadeAt < 0)
                || !(brigadeShare > 0 && brigadeShare < 1)) {
            spec.commandLine().getErr().println("kaizen demo: --users >= 0, --rate > 0, --noise in [0, 1], --minutes >= 0, --brigade-at >= 0 "
                    + "and --brigade-share in (0, 1), please");
            return 2;
        }
        String token = Listening.token(tokenEnv);
        Listening.requireFree(host, port);
        Path cache = cacheDir != null ? cacheDir : Path.of(System.getProperty("user.home"), ".cache", "kaizen");
        return new Demo(new Demo.Options(users, rate, noise, minutes, host, port, token, summary, chart, cache, brigadeAt, brigadeShare), out)
                .run();
    }
}
