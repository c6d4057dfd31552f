package dev.kaizen.clients;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.avro.specific.SpecificRecord;

import dev.kaizen.schemas.ResponseLogged;

/**
 * One of the non-Java producers, driven through its test driver ({@code driver.py}, {@code driver.js}
 * in this module's test resources): records go in as JSON lines, and come out as bytes or on a topic.
 */
enum Client {

    // Debian's python3-avro and python3-confluent-kafka import under /usr/bin/python3; another python3 may come first on PATH.
    PYTHON(Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3", "driver.py", "PYTHONPATH", "python"),
    TYPESCRIPT("node", "driver.js", "KAIZEN_WIRE", "typescript/kaizen-wire.js");

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String interpreter;
    private final String driver;
    private final String variable;
    private final String module;

    Client(String interpreter, String driver, String variable, String module) {
        this.interpreter = interpreter;
        this.driver = driver;
        this.variable = variable;
        this.module = module;
    }

    String interpreter() {
        return interpreter;
    }

    /** Runs the driver with {@code args}, {@code lines} on its standard input; returns its standard output's lines. */
    List<String> run(List<String> lines, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(interpreter, resource(driver).toString()));
        command.addAll(List.of(args));
        Path input = Files.createTempFile("client-", ".jsonl");
        Path error = Files.createTempFile("client-", ".err");
        try {
            Files.write(input, lines, StandardCharsets.UTF_8);
            ProcessBuilder builder = new ProcessBuilder(command).redirectInput(input.toFile()).redirectError(error.toFile());
            // The module's folder is the working directory of this module's tests.
            builder.environment().put(variable, Path.of(module).toAbsolutePath().toString());
            Process process = builder.start();
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            boolean ended = process.waitFor(2, TimeUnit.MINUTES);
            if (!ended) {
                process.destroyForcibly();
            }
            assertThat(ended && process.exitValue() == 0).as("%s %s:%n%s", this, args[0], Files.readString(error)).isTrue();
            return out.lines().toList();
        } finally {
            Files.delete(input);
            Files.delete(error);
        }
    }

    private static Path resource(String name) {
        try {
            return Path.of(Client.class.getResource("/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A record as a JSON line for the drivers, {@code schemaFile} the writer schema (null: the current
     * one): its fields by their Avro names, times in epoch milliseconds, enums by symbol.
     */
    static String line(SpecificRecord record, Path schemaFile) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("kind", record instanceof ResponseLogged ? "response" : "feedback");
        line.put("record", plain(record));
        if (schemaFile != null) {
            line.put("schema_file", schemaFile.toAbsolutePath().toString());
        }
        try {
            return JSON.writeValueAsString(line);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Object plain(Object value) {
        if (value instanceof SpecificRecord r) {
            Map<String, Object> fields = new LinkedHashMap<>();  // keeps nulls, unlike Map.of
            r.getSchema().getFields().forEach(f -> fields.put(f.name(), plain(r.get(f.pos()))));
            return fields;
        }
        if (value instanceof Map<?, ?> map) {
            Map<String, Object> entries = new LinkedHashMap<>();
            map.forEach((k, v) -> entries.put(k.toString(), plain(v)));
            return entries;
        }
        if (value instanceof List<?> list) {
            return list.stream().map(Client::plain).toList();
        }
        if (value instanceof Instant at) {
            return at.toEpochMilli();
        }
        return value instanceof Enum<?> || value instanceof CharSequence ? value.toString() : value;
    }
}
