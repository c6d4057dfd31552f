package dev.kaizen.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import dev.kaizen.serving.api.ChatServer;

/**
 * A slow-request attack on serving, on loopback: many connections each send their headers and then
 * trickle the body a byte at a time. Each route is timed with none of them and while they hang
 * on; the ratio is the yardstick, since both are measured in the same run on the same machine.
 */
@Command(name = "slow-clients", mixinStandardHelpOptions = true,
        description = "Open N connections that trickle their request bodies a byte a second to the tiny model's serving (in-process "
                + "broker, loopback only), and time /readyz, a vote and a 4-token chat with none of them and while they hang on; "
                + "then count how many the server cut off with 408 within its body deadline.")
final class SlowClientsBench implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--clients", defaultValue = "300", paramLabel = "N", description = "Trickling connections (default: ${DEFAULT-VALUE}).")
    int clients;

    @Option(names = "--requests", defaultValue = "20", paramLabel = "N", description = "Timed requests per route and phase (default: ${DEFAULT-VALUE}).")
    int requests;

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        try (BenchServing bench = new BenchServing("slow-clients")) {
            Map<String, HttpRequest> routes = routes(bench);
            time(routes, requests);  // warm-up: JIT, first Kafka writes
            Map<String, Double> calm = time(routes, requests);
            List<Socket> slow = new ArrayList<>();
            long opened = System.nanoTime();
            try {
                for (int i = 0; i < clients; i++) {
                    Socket socket = new Socket("127.0.0.1", bench.serving.port());
                    socket.getOutputStream().write(("POST /v1/feedback HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                            + "Content-Length: 4096\r\n\r\n{").getBytes(StandardCharsets.US_ASCII));
                    slow.add(socket);
                }
                Thread trickle = new Thread(() -> trickle(slow), "trickle");
                trickle.setDaemon(true);
                trickle.start();
                Map<String, Double> attacked = time(routes, requests);
                out.printf("serving under %d connections trickling their bodies (tiny model, loopback), median of %d requests:%n",
                        clients, requests);
                for (String route : routes.keySet()) {
                    out.printf("  %-28s %8.1f ms alone  %8.1f ms under attack  ratio %5.2f%n", route, calm.get(route), attacked.get(route),
                            attacked.get(route) / calm.get(route));
                }
                int cutOff = cutOff(slow, ChatServer.BODY_DEADLINE.multipliedBy(2));
                out.printf("  %d of %d trickling connections answered 408 and closed, %.1f s after they opened (body deadline %d s)%n",
                        cutOff, clients, (System.nanoTime() - opened) / 1e9, ChatServer.BODY_DEADLINE.toSeconds());
            } finally {
                for (Socket s : slow) {
                    s.close();
                }
            }
        }
        return 0;
    }

    private Map<String, HttpRequest> routes(BenchServing bench) {
        Map<String, HttpRequest> routes = new LinkedHashMap<>();
        routes.put("GET /readyz", HttpRequest.newBuilder(URI.create(bench.url("/readyz"))).timeout(Duration.ofSeconds(60)).build());
        routes.put("POST /v1/feedback", post(bench.url("/v1/feedback"), "{\"response_id\":\"r-1\",\"vote\":\"up\",\"user_id\":\"u-1\"}"));
        routes.put("POST /v1/chat/completions", post(bench.url("/v1/chat/completions"),
                "{\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}],\"max_tokens\":4,\"temperature\":0}"));
        return routes;
    }

    private static HttpRequest post(String url, String body) {
        return HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    /** The median milliseconds of each route over {@code n} requests, one at a time; a failed request is an error. */
    private Map<String, Double> time(Map<String, HttpRequest> routes, int n) throws Exception {
        Map<String, Double> medians = new LinkedHashMap<>();
        for (var route : routes.entrySet()) {
            List<Double> ms = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                long start = System.nanoTime();
                HttpResponse<String> r = http.send(route.getValue(), HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() / 100 != 2) {
                    throw new IllegalStateException(route.getKey() + " answered " + r.statusCode() + ": " + r.body());
                }
                ms.add((System.nanoTime() - start) / 1e6);
            }
            Collections.sort(ms);
            medians.put(route.getKey(), ms.get(ms.size() / 2));
        }
        return medians;
    }

    /** One more byte on every connection each second, until the server has closed them all. */
    private static void trickle(List<Socket> slow) {
        byte[] space = {' '};
        for (int second = 0; second < 60; second++) {
            boolean open = false;
            for (Socket s : slow) {
                try {
                    s.getOutputStream().write(space);
                    open = true;
                } catch (IOException closed) {
                    // cut off by the server: what should happen
                }
            }
            if (!open) {
                return;
            }
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** How many connections got a 408 within {@code wait}. */
    private static int cutOff(List<Socket> slow, Duration wait) throws IOException {
        long deadline = System.nanoTime() + wait.toNanos();
        int answered = 0;
        for (Socket s : slow) {
            int left = (int) Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
            s.setSoTimeout(left);
            try {
                InputStream in = s.getInputStream();
                byte[] head = in.readNBytes(12);
                if (new String(head, StandardCharsets.US_ASCII).startsWith("HTTP/1.1 408")) {
                    answered++;
                }
            } catch (SocketTimeoutException | java.net.SocketException e) {
                // not answered in time
            }
        }
        return answered;
    }
}
