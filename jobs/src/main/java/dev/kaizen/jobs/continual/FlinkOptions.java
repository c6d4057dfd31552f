package dev.kaizen.jobs.continual;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.zip.ZipEntry;
import java.util.stream.Stream;

import org.apache.flink.configuration.ConfigOption;

/**
 * Flink's own option registry, read from the Flink on the class path (the cluster's, under
 * {@code flink run}): every {@link ConfigOption} constant of its {@code *Options} classes. Flink
 * ignores a key it does not know, so a misspelled one would silently leave a default in force.
 */
public final class FlinkOptions {

    /**
     * Families whose keys are made up by the user or by a plugin, not declared as constants:
     * metric reporters, external resources, file system plugins, and environment variables.
     */
    public static final List<String> DYNAMIC_PREFIXES = List.of("metrics.reporter.", "external-resource.", "s3.", "fs.", "gs.",
            "presto.s3.", "hive.s3.", "hadoop.", "azure.", "containerized.master.env.", "containerized.taskmanager.env.");

    /** A class of each Flink jar that declares options, where it is on the class path. */
    private static final List<String> ANCHORS = List.of("org.apache.flink.configuration.CoreOptions",
            "org.apache.flink.runtime.minicluster.MiniCluster", "org.apache.flink.streaming.api.environment.StreamExecutionEnvironment",
            "org.apache.flink.client.cli.CliFrontend", "org.apache.flink.state.rocksdb.RocksDBOptions");

    private static Set<String> current;
    private static Set<String> accepted;

    private FlinkOptions() {}

    /** The keys of options Flink has not deprecated, without their fallbacks: its current vocabulary. */
    public static synchronized Set<String> current() {
        load();
        return current;
    }

    /** Whether Flink reads {@code key}: a current or deprecated option, a fallback key, or a dynamic family. */
    public static synchronized boolean accepts(String key) {
        load();
        return accepted.contains(key) || DYNAMIC_PREFIXES.stream().anyMatch(key::startsWith);
    }

    private static void load() {
        if (current != null) {
            return;
        }
        Set<String> now = new HashSet<>();
        Set<String> all = new HashSet<>();
        classNames().forEach(name -> {
            try {
                for (Field f : Class.forName(name, false, FlinkOptions.class.getClassLoader()).getFields()) {
                    if (Modifier.isStatic(f.getModifiers()) && f.getType() == ConfigOption.class) {
                        ConfigOption<?> option = (ConfigOption<?>) f.get(null);
                        all.add(option.key());
                        option.fallbackKeys().forEach(k -> all.add(k.getKey()));
                        if (!f.isAnnotationPresent(Deprecated.class)) {
                            now.add(option.key());
                        }
                    }
                }
            } catch (ReflectiveOperationException | LinkageError e) {
                // An options class whose dependencies are not on this class path declares nothing we could set here.
            }
        });
        current = Set.copyOf(now);
        accepted = Set.copyOf(all);
    }

    /** Top-level {@code org.apache.flink} classes named {@code …Options}, from each jar (or folder) an anchor lives in. */
    private static Set<String> classNames() {
        Set<Path> roots = new HashSet<>();
        for (String anchor : ANCHORS) {
            try {
                CodeSource source = Class.forName(anchor, false, FlinkOptions.class.getClassLoader()).getProtectionDomain().getCodeSource();
                if (source != null) {
                    roots.add(Path.of(source.getLocation().toURI()));
                }
            } catch (ClassNotFoundException | URISyntaxException e) {
                // That jar is not on this class path: its options cannot be set here either.
            }
        }
        Set<String> names = new HashSet<>();
        for (Path root : roots) {
            for (String e : entries(root)) {
                if (e.startsWith("org/apache/flink/") && e.endsWith("Options.class") && !e.contains("$")) {
                    names.add(e.substring(0, e.length() - ".class".length()).replace('/', '.'));
                }
            }
        }
        return names;
    }

    private static List<String> entries(Path root) {
        try {
            if (Files.isDirectory(root)) {
                try (Stream<Path> files = Files.walk(root)) {
                    return files.map(p -> root.relativize(p).toString().replace('\\', '/')).toList();
                }
            }
            try (JarFile jar = new JarFile(root.toFile())) {
                return jar.stream().map(ZipEntry::getName).toList();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list Flink's options in " + root, e);
        }
    }
}
