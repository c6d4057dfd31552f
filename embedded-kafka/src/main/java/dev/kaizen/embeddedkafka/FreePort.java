package dev.kaizen.embeddedkafka;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;

/** A loopback port nothing listens on right now, for a server a test starts (or for one that must be unreachable). */
public final class FreePort {

    private FreePort() {}

    public static int onLoopback() {
        return onLoopback(1)[0];
    }

    /**
     * {@code n} different free ports: each is held open until all are chosen, since ports asked for
     * one at a time may repeat (the system may hand out a port again as soon as it is closed).
     */
    public static int[] onLoopback(int n) {
        ServerSocket[] sockets = new ServerSocket[n];
        try {
            int[] ports = new int[n];
            for (int i = 0; i < n; i++) {
                sockets[i] = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                ports[i] = sockets[i].getLocalPort();
            }
            return ports;
        } catch (IOException e) {
            throw new UncheckedIOException("no free loopback port", e);
        } finally {
            for (ServerSocket socket : sockets) {
                if (socket != null) {
                    try {
                        socket.close();
                    } catch (IOException ignored) {
                        // closing a listening socket we opened: nothing to do
                    }
                }
            }
        }
    }
}
