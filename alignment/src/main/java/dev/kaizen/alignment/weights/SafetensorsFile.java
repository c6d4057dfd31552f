package dev.kaizen.alignment.weights;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import sun.misc.Unsafe;

import dev.kaizen.alignment.model.ModelDirectoryException;

/**
 * One safetensors file, memory-mapped: an 8-byte little-endian header length, a JSON header of
 * {name: {dtype, shape, data_offsets}}, then the tensors' bytes. Each tensor is mapped on its own
 * when read, so files past 2 GiB work and nothing is copied until asked.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** Where one tensor's bytes are, relative to the start of the data section. */
    public record Entry(String name, Dtype dtype, long[] shape, long begin, long end) {}

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER_BYTES = 100L << 20;

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart, Map<String, Entry> entries,
                            Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    public static SafetensorsFile open(Path path) {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new ModelDirectoryException(path, "missing");
        } catch (IOException e) {
            throw new ModelDirectoryException(path, "cannot be opened: " + e.getMessage(), e);
        }
        try {
            long size = channel.size();
            if (size < 8) {
                throw new ModelDirectoryException(path, "is " + size + " bytes, too short for a safetensors header");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            channel.read(lengthBytes, 0);
            long headerLength = lengthBytes.flip().getLong();
            if (headerLength <= 0 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
                throw new ModelDirectoryException(path, "corrupt safetensors header: declared length " + headerLength
                        + " does not fit a file of " + size + " bytes");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLength);
            channel.read(header, 8);
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, Entry> entries = parseHeader(path, new String(header.array(), StandardCharsets.UTF_8),
                    size - 8 - headerLength, metadata);
            return new SafetensorsFile(path, channel, 8 + headerLength, entries, metadata);
        } catch (IOException e) {
            closeQuietly(channel);
            throw new ModelDirectoryException(path, "cannot be read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    private static Map<String, Entry> parseHeader(Path path, String text, long dataBytes, Map<String, String> metadata) {
        JsonNode header;
        try {
            header = JSON.readTree(text);
        } catch (IOException e) {
            throw new ModelDirectoryException(path, "corrupt safetensors header: not JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
        }
        if (header == null || !header.isObject()) {
            throw new ModelDirectoryException(path, "corrupt safetensors header: not a JSON object");
        }
        Map<String, Entry> entries = new LinkedHashMap<>();
        var fields = header.fields();
        while (fields.hasNext()) {
            var field = fields.next();
            if (field.getKey().equals("__metadata__")) {
                field.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            entries.put(field.getKey(), entry(path, field.getKey(), field.getValue(), dataBytes));
        }
        // Tensors must tile the data section exactly: no gaps, no overlaps, nothing past its end.
        List<Entry> byOffset = entries.values().stream().sorted(Comparator.comparingLong(Entry::begin)).toList();
        long expected = 0;
        for (Entry e : byOffset) {
            if (e.begin() != expected) {
                throw new ModelDirectoryException(path, "corrupt safetensors header: " + e.name() + " starts at "
                        + e.begin() + ", expected " + expected);
            }
            expected = e.end();
        }
        if (expected != dataBytes) {
            throw new ModelDirectoryException(path, "corrupt safetensors file: header covers " + expected
                    + " data bytes but the file has " + dataBytes);
        }
        return entries;
    }

    private static Entry entry(Path path, String name, JsonNode node, long dataBytes) {
        String where = "corrupt safetensors header: tensor " + name + " ";
        Dtype dtype;
        try {
            dtype = Dtype.valueOf(node.path("dtype").asText());
        } catch (IllegalArgumentException e) {
            throw new ModelDirectoryException(path, where + "has dtype '" + node.path("dtype").asText()
                    + "'; Kaizen reads F32, F16 and BF16");
        }
        JsonNode shapeNode = node.path("shape");
        JsonNode offsets = node.path("data_offsets");
        if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
            throw new ModelDirectoryException(path, where + "lacks shape or data_offsets");
        }
        long[] shape = new long[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong(-1);
            if (shape[i] < 0) {
                throw new ModelDirectoryException(path, where + "has a negative or non-numeric dimension");
            }
        }
        long begin = offsets.get(0).asLong(-1);
        long end = offsets.get(1).asLong(-1);
        if (begin < 0 || end < begin || end > dataBytes) {
            throw new ModelDirectoryException(path, where + "has data_offsets [" + begin + ", " + end
                    + "] outside the " + dataBytes + " data bytes");
        }
        if (end - begin != Tensor.numel(shape) * dtype.bytes()) {
            throw new ModelDirectoryException(path, where + "has " + (end - begin) + " bytes for shape "
                    + java.util.Arrays.toString(shape) + " of " + dtype);
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    public Path path() {
        return path;
    }

    public Map<String, Entry> entries() {
        return Collections.unmodifiableMap(entries);
    }

    public Map<String, String> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    /** The tensor's raw little-endian bytes, mapped from the file. */
    public ByteBuffer bytes(String name) {
        Entry e = entry(name);
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin(), e.end() - e.begin())
                    .order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException ex) {
            throw new ModelDirectoryException(path, "cannot map tensor " + name + ": " + ex.getMessage(), ex);
        }
    }

    /**
     * The tensor as an F32 array of {@code manager} that owns its memory, copied from the mapped
     * file without a Java heap copy: F32 cloned by the engine, F16 widened by the engine, BF16
     * (which DJL cannot hold) widened here into a direct buffer. DJL wraps a direct buffer in
     * place rather than copying it, so an uncloned F32 array would alias the read-only mapping
     * and crash the first in-place update.
     */
    public NDArray toNDArray(String name, NDManager manager) {
        Entry e = entry(name);
        Shape shape = new Shape(e.shape());
        ByteBuffer bytes = bytes(name);
        try {
            return switch (e.dtype()) {
                case F32 -> {
                    try (NDArray mapped = manager.create(bytes, shape, DataType.FLOAT32)) {
                        yield mapped.duplicate();
                    }
                }
                case F16 -> {
                    try (NDArray half = manager.create(bytes, shape, DataType.FLOAT16)) {
                        yield half.toType(DataType.FLOAT32, true);
                    }
                }
                case BF16 -> {
                    ByteBuffer wide = ByteBuffer.allocateDirect(bytes.capacity() * 2).order(ByteOrder.nativeOrder());
                    for (int i = 0; i < bytes.capacity() / 2; i++) {
                        wide.putFloat(Dtype.bfloat16ToFloat(bytes.getShort(2 * i)));
                    }
                    yield manager.create(wide.flip(), shape, DataType.FLOAT32);
                }
            };
        } finally {
            unmap(bytes);
        }
    }

    /**
     * Unmaps a tensor's bytes once the engine has its own copy. Java unmaps a mapping only when the
     * collector finds it unreachable, and with little heap pressure that is never: every tensor of a
     * loaded model would stay mapped and resident beside its copy, doubling a load's footprint.
     */
    private static void unmap(ByteBuffer mapped) {
        UNSAFE.invokeCleaner(mapped);
    }

    private static final Unsafe UNSAFE = theUnsafe();

    private static Unsafe theUnsafe() {
        try {
            Field f = Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (Unsafe) f.get(null);
        } catch (ReflectiveOperationException ex) {
            throw new IllegalStateException("sun.misc.Unsafe, which unmaps tensors after loading, is not available", ex);
        }
    }

    private Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) {
            throw new ModelDirectoryException(path, "has no tensor named " + name);
        }
        return e;
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Read-only: nothing can be lost by a failed close.
        }
    }
}
