package dev.kaizen.alignment.weights;

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
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
            out.write(json);
            out.write(" ".repeat(padded - json.length).getBytes(StandardCharsets.US_ASCII));
            for (Tensor t : tensors.values()) {
                out.write(encode(t));
            }
        }
    }

    static byte[] encode(Tensor t) {
        float[] v = t.values();
        ByteBuffer buffer = ByteBuffer.allocate(v.length * t.dtype().bytes()).order(ByteOrder.LITTLE_ENDIAN);
        switch (t.dtype()) {
            case F32 -> buffer.asFloatBuffer().put(v);
            case F16 -> {
                for (float f : v) {
                    buffer.putShort(Dtype.floatToHalf(f));
                }
            }
            case BF16 -> {
                for (float f : v) {
                    buffer.putShort(Dtype.floatToBfloat16(f));
                }
            }
        }
        return buffer.array();
    }
}
