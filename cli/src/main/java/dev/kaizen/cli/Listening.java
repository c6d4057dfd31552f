package dev.kaizen.cli;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;

/** What the commands that listen (serve, demo) check before they start anything else. */
final class Listening {

    private Listening() {}

    /** The bearer token held by the environment variable {@code var}; null when no variable is named. */
    static String token(String var) {
        if (var == null) {
            return null;
        }
        String token = System.getenv(var);
        if (token == null || token.isBlank()) {
            throw new IllegalArgumentException("the environment variable " + var + " is not set");
        }
        return token;
    }

    /** Refuses a port that is taken now, before minutes of start-up would end in a bind error. */
    static void requireFree(String host, int port) {
        if (port == 0) {
            return;
        }
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(new InetSocketAddress(host, port));
        } catch (IOException e) {
            throw new IllegalArgumentException("port " + port + " on " + host + " is already in use; pass --port with a free one");
        }
    }
}
