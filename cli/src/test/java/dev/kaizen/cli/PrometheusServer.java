package dev.kaizen.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

/**
 * A real Prometheus server (Debian's {@code prometheus}) on loopback, scraping with the scrape
 * configuration of deploy/prometheus/prometheus.yml, its discovery swapped for the loopback
 * addresses a test's processes listen on, and answering PromQL through its HTTP API.
 */
final class PrometheusServer implements AutoCloseable {

    static final Path DEPLOYED = Path.of("..", "deploy", "prometheus").toAbsolutePath().normalize();

    private final Process process;
    private final int port;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private PrometheusServer(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    /** Starts Prometheus in {@code dir}, each job of the deployed configuration scraping {@code targets.get(jobName)} every second. */
    static PrometheusServer start(Path dir, Map<String, String> targets) throws Exception {
        ObjectNode config = (ObjectNode) new YAMLMapper().readTree(DEPLOYED.resolve("prometheus.yml").toFile());
        ((ObjectNode) config.get("global")).put("scrape_interval", "1s").put("evaluation_interval", "1s");
        for (JsonNode job : config.get("scrape_configs")) {
            String target = targets.get(job.get("job_name").asText());
            if (target == null) {
                throw new IllegalArgumentException("no loopback target for scrape job " + job.get("job_name"));
            }
            ObjectNode scrape = (ObjectNode) job;
            JsonNode labels = scrape.at("/static_configs/0/labels");
            scrape.remove("dns_sd_configs");
            ObjectNode only = scrape.putArray("static_configs").addObject();
            only.putArray("targets").add(target);
            if (!labels.isMissingNode()) {
                only.set("labels", labels);
            }
        }
        Files.copy(DEPLOYED.resolve("alerts.yml"), dir.resolve("alerts.yml"));
        Path file = dir.resolve("prometheus.yml");
        new YAMLMapper().writeValue(file.toFile(), config);
        int port;
        try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = free.getLocalPort();
        }
        Process process = new ProcessBuilder("prometheus", "--config.file=" + file, "--storage.tsdb.path=" + dir.resolve("tsdb"),
                "--web.listen-address=127.0.0.1:" + port).redirectErrorStream(true).redirectOutput(dir.resolve("prometheus.log").toFile())
                .start();
        PrometheusServer server = new PrometheusServer(process, port);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!server.ready()) {
            if (System.nanoTime() > deadline || !process.isAlive()) {
                server.close();
                throw new IllegalStateException("Prometheus did not start:\n" + Files.readString(dir.resolve("prometheus.log")));
            }
            Thread.sleep(200);
        }
        return server;
    }

    private boolean ready() throws InterruptedException {
        try {
            return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/-/ready")).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
        } catch (IOException e) {
            return false;
        }
    }

    /** The result of an instant query: one element per series (empty when the expression has no data). */
    ArrayNode query(String promql) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/v1/query?query="
                + URLEncoder.encode(promql, StandardCharsets.UTF_8))).build(), HttpResponse.BodyHandlers.ofString());
        JsonNode body = new ObjectMapper().readTree(response.body());
        if (response.statusCode() != 200 || !body.path("status").asText().equals("success")) {
            throw new IllegalArgumentException(promql + ": " + response.body());
        }
        return (ArrayNode) body.at("/data/result");
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
        }
    }
}
