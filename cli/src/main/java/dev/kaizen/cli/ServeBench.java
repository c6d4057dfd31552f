package dev.kaizen.cli;

import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;

import ai.djl.Device;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.checkpoints.CheckpointStore;
import dev.kaizen.schemas.ModelUpdate;
import dev.kaizen.serving.Serving;
import dev.kaizen.serving.api.ChatServer;
import dev.kaizen.serving.follow.KafkaClients;
import dev.kaizen.serving.follow.VersionFollower;
import dev.kaizen.serving.publish.VersionPublisher;
import dev.kaizen.serving.upstream.UpstreamBackend;

@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve the tiny model with an in-process broker and measure /v1/chat/completions at several numbers of "
                + "concurrent clients (requests/s, p50/p99); then the latency a gateway (serve --upstream) in front of it adds, "
                + "requests through it and straight to the server taking turns; then the time from a version's commit on "
                + "model-updates to the first answer that version gives.")
final class ServeBench implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--clients", defaultValue = "1,4,16", split = ",", paramLabel = "N,N,…", description = "Default: ${DEFAULT-VALUE}.")
    List<Integer> clients;

    @Option(names = "--requests", defaultValue = "96", paramLabel = "N", description = "Requests per level (default: ${DEFAULT-VALUE}).")
    int requests;

    @Option(names = "--max-tokens", defaultValue = "16", paramLabel = "N", description = "Tokens per answer (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--swaps", defaultValue = "3", paramLabel = "N", description = "Versions announced for the swap timing (default: ${DEFAULT-VALUE}).")
    int swaps;

    private final HttpClient http = HttpClient.newHttpClient();

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        try (BenchServing bench = new BenchServing("serve")) {
            URI url = URI.create(bench.url("/v1/chat/completions"));
            load(url, 4, 16);  // warm-up: JIT, first Kafka writes
            out.printf("/v1/chat/completions, tiny model, %d tokens per answer:%n", maxTokens);
            for (int c : clients) {
                long start = System.nanoTime();
                List<Long> latencies = load(url, c, requests);
                double seconds = (System.nanoTime() - start) / 1e9;
                out.printf("  %2d clients: %6.1f requests/s, p50 %5.0f ms, p99 %5.0f ms%n", c, requests / seconds,
                        percentile(latencies, 0.5), percentile(latencies, 0.99));
                out.flush();
            }
            gateway(out, bench, url);
            swapTimes(out, url, bench.base, bench.store, bench.kafka.bootstrapServers());
        }
        return 0;
    }

    /**
     * A gateway in front of the bench's server (logging on topics of its own): requests go to the
     * gateway and straight to the server alternately, from the same clients, so both see the same
     * moments of a shared machine; the difference of their percentiles is what the gateway adds.
     */
    private void gateway(PrintWriter out, BenchServing bench, URI direct) throws Exception {
        bench.kafka.createTopics(1, "gateway-chat-responses", "gateway-chat-feedback");
        try (Serving gateway = Serving.gateway(new UpstreamBackend.Options(URI.create(bench.url("/")),
                UpstreamBackend.Options.DEFAULT_NAME_TEMPLATE, null, Duration.ofSeconds(60), 64, ServeCommand.UPSTREAM_LIST_EVERY,
                new VersionFollower.Options("tiny", KafkaClients.of(bench.kafka.bootstrapServers()), "model-updates", bench.store.root()), 0),
                "gateway-chat-responses", "gateway-chat-feedback", new ChatServer.Options("127.0.0.1", 0, null, 1 << 20))) {
            URI via = URI.create("http://127.0.0.1:" + gateway.port() + "/v1/chat/completions");
            load(List.of(via, direct), 4, 16);  // warm-up
            out.printf("gateway (serve --upstream) in front of it, requests through it and straight to the server in turn:%n");
            for (int c : clients) {
                List<List<Long>> latencies = load(List.of(via, direct), c, 2 * requests);
                double throughP50 = percentile(latencies.get(0), 0.5);
                double throughP99 = percentile(latencies.get(0), 0.99);
                double straightP50 = percentile(latencies.get(1), 0.5);
                double straightP99 = percentile(latencies.get(1), 0.99);
                out.printf("  %2d clients: straight p50 %5.0f ms, p99 %5.0f ms; through the gateway p50 %5.0f ms, p99 %5.0f ms; "
                        + "added p50 %+.1f ms, p99 %+.1f ms%n", c, straightP50, straightP99, throughP50, throughP99,
                        throughP50 - straightP50, throughP99 - straightP99);
                out.flush();
            }
        }
    }

    /** The {@code q} quantile of {@code nanos}, in ms. */
    private static double percentile(List<Long> nanos, double q) {
        List<Long> sorted = new ArrayList<>(nanos);
        Collections.sort(sorted);
        return sorted.get(Math.max(0, (int) Math.ceil(sorted.size() * q) - 1)) / 1e6;
    }

    /** Announces fresh versions one at a time and times commit → first answer carrying the new version. */
    private void swapTimes(PrintWriter out, URI url, Path base, CheckpointStore store, String bootstrapServers) throws Exception {
        VersionPublisher publisher = new VersionPublisher(store, bootstrapServers);
        List<Double> times = new ArrayList<>();
        try (LlamaForCausalLM trainer = LlamaForCausalLM.load(base, Device.cpu())) {
            for (long v = 1; v <= swaps; v++) {
                Path adapter = Files.createTempDirectory(base.getParent(), "adapter-");
                try (LoraAdapter lora = LoraAdapter.attach(trainer, new LoraAdapter.Config(8, 16, 0, LoraAdapter.ALL_TARGETS), v)) {
                    lora.save(adapter, "tiny");
                }
                ModelUpdate update = publisher.store("tiny", v, v - 1, adapter, "tiny", 0, Map.of());
                publisher.send("model-updates", true, update);
                long committed = System.nanoTime();
                while (!Long.toString(v).equals(ask(url, 1).headers().firstValue(ChatServer.VERSION_HEADER).orElse(""))) {
                    Thread.sleep(5);
                }
                times.add((System.nanoTime() - committed) / 1e9);
            }
        }
        Collections.sort(times);
        out.printf("commit of a version to its first answer: median %.2f s over %d versions (%s)%n", times.get(times.size() / 2), times.size(),
                times.stream().map(t -> String.format("%.2f", t)).toList());
    }

    private List<Long> load(URI url, int concurrency, int count) throws InterruptedException {
        return load(List.of(url), concurrency, count).get(0);
    }

    /** {@code count} requests from {@code concurrency} clients, each sending to {@code urls} in turn; the latencies per URL. */
    private List<List<Long>> load(List<URI> urls, int concurrency, int count) throws InterruptedException {
        List<List<Long>> latencies = new ArrayList<>();
        urls.forEach(u -> latencies.add(Collections.synchronizedList(new ArrayList<>())));
        AtomicInteger next = new AtomicInteger();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < concurrency; i++) {
            Thread t = new Thread(() -> {
                for (int n = next.getAndIncrement(); n < count; n = next.getAndIncrement()) {
                    int target = n % urls.size();
                    long start = System.nanoTime();
                    HttpResponse<String> r = ask(urls.get(target), maxTokens);
                    if (r.statusCode() != 200) {
                        throw new IllegalStateException("HTTP " + r.statusCode() + ": " + r.body());
                    }
                    latencies.get(target).add(System.nanoTime() - start);
                }
            });
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        return latencies;
    }

    private HttpResponse<String> ask(URI url, int tokens) {
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}],\"max_tokens\":" + tokens
                + ",\"temperature\":0}";
        try {
            return http.send(HttpRequest.newBuilder(url).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
