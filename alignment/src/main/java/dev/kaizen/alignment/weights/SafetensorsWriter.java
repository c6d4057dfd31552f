package dev.kaizen.alignment.weights;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;

/** Writes tensors as one safetensors file, each in its own {@link Tensor#dtype()}, in the given order. */
public final class SafetensorsWriter {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CHUNK = 1 << 20;

    private SafetensorsWriter() {}

    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) {
            header.put("__metadata__", metadata);
        }
        long offset = 0;
        for (var e : tensors.entrySet()) {
            Tensor t = e.getValue();
            long size = (long) t.values().length * t.dtype().bytes();
            header.put(e.getKey(), Map.of("dtype", t.dtype().name(), "shape", t.shape(),
                    "data_offsets", List.of(offset, offset + size)));
            offset += size;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
        int padded = (json.length + 7) / 8 * 8;
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), CHUNK)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
            out.write(json);
            out.write(" ".repeat(padded - json.length).getBytes(StandardCharsets.US_ASCII));
            ByteBuffer chunk = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            for (Tensor t : tensors.values()) {
                encode(t, chunk, out);
            }
        }
    }

    /** Encodes through one reused chunk, so writing a large model never doubles it in memory. */
    private static void encode(Tensor t, ByteBuffer chunk, OutputStream out) throws IOException {
        for (float f : t.values()) {
            if (chunk.remaining() < 4) {
                out.write(chunk.array(), 0, chunk.position());
                chunk.clear();
            }
            switch (t.dtype()) {
                case F32 -> chunk.putFloat(f);
                case F16 -> chunk.putShort(Dtype.floatToHalf(f));
                case BF16 -> chunk.putShort(Dtype.floatToBfloat16(f));
            }
        }
        out.write(chunk.array(), 0, chunk.position());
        chunk.clear();
    }
}
