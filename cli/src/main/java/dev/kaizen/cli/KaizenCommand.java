package dev.kaizen.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code kaizen} command line: one subcommand per thing a user does with Kaizen. */
@Command(name = "kaizen",
        mixinStandardHelpOptions = true,
        versionProvider = KaizenCommand.Version.class,
        description = "Keeps a deployed chat model improving from its users' thumbs up and down, on Kafka and Flink.",
        subcommands = {ModelCommand.class, GenerateCommand.class, TrainCommand.class, JobCommand.class, ServeCommand.class, RolloutCommand.class, RollbackCommand.class, DemoCommand.class, BenchCommand.class, TopicsCommand.class,
                SchemasCommand.class, CommandLine.HelpCommand.class})
public final class KaizenCommand {

    public static void main(String[] args) {
        // DJL's natives come from the jar; it must never try to download them.
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        System.exit(commandLine().execute(args));
    }

    /** The command tree, with errors reported as one line instead of a stack trace. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new KaizenCommand()).setCaseInsensitiveEnumValuesAllowed(true);
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + e.getMessage());
            return 1;
        });
        return cli;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = KaizenCommand.class.getPackage().getImplementationVersion();
            return new String[] {"kaizen " + (version == null ? "(development build)" : version)};
        }
    }
}
