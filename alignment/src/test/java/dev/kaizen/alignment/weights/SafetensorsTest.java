package dev.kaizen.alignment.weights;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SafetensorsTest {

    @TempDir
    Path dir;

    /** Values that the dtype represents exactly, so a round trip must reproduce every bit. */
    static Map<String, Tensor> tensors(Dtype dtype, long seed) {
        Random random = new Random(seed);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        long[][] shapes = {{7, 5}, {5}, {2, 3, 4}, {1}};
        String[] names = {"model.layers.0.mlp.up_proj.weight", "model.norm.weight", "a.b.c", "scalar.like"};
        for (int i = 0; i < shapes.length; i++) {
            float[] v = new float[(int) Tensor.numel(shapes[i])];
            for (int j = 0; j < v.length; j++) {
                float f = (float) random.nextGaussian() * 3;
                v[j] = switch (dtype) {
                    case F32 -> f;
                    case F16 -> Dtype.halfToFloat(Dtype.floatToHalf(f));
                    case BF16 -> Dtype.bfloat16ToFloat(Dtype.floatToBfloat16(f));
                };
            }
            tensors.put(names[i], new Tensor(dtype, shapes[i], v));
        }
        return tensors;
    }

    @ParameterizedTest
    @EnumSource(Dtype.class)
    void roundTripIsBitExact(Dtype dtype) throws IOException {
        Map<String, Tensor> written = tensors(dtype, 3);
        Path file = dir.resolve("x.safetensors");
        SafetensorsWriter.write(file, written, Map.of("format", "pt"));
        Map<String, Tensor> read = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file); NDManager m = NDManager.newBaseManager()) {
            assertThat(f.entries().keySet()).containsExactlyElementsOf(written.keySet());
            assertThat(f.metadata()).containsEntry("format", "pt");
            for (String name : written.keySet()) {
                Tensor t = loaded(f, name, m);
                assertThat(t.dtype()).isEqualTo(dtype);
                assertThat(t.shape()).isEqualTo(written.get(name).shape());
                assertThat(bits(t.values())).as(name).isEqualTo(bits(written.get(name).values()));
                read.put(name, t);
            }
        }
        Path again = dir.resolve("again.safetensors");
        SafetensorsWriter.write(again, read, Map.of("format", "pt"));
        assertThat(Files.readAllBytes(again)).isEqualTo(Files.readAllBytes(file));
    }

    /**
     * A file laid out by hand from the format's spec, not by our writer: an 8-byte little-endian
     * header length, the JSON header (tensors in another order than their data, padded with
     * spaces), then the raw little-endian data at each tensor's offsets.
     */
    @Test
    void readsAFileWrittenByHandFromTheSpec() throws IOException {
        String json = "{\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]},"
                + "\"__metadata__\":{\"format\":\"pt\"},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                + "\"c\":{\"dtype\":\"BF16\",\"shape\":[1,1],\"data_offsets\":[22,24]}}";
        byte[] header = (json + " ".repeat((8 - json.length() % 8) % 8)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        java.nio.ByteBuffer file = java.nio.ByteBuffer.allocate(8 + header.length + 24).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        file.putLong(header.length).put(header);
        file.putFloat(1f).putFloat(2f).putFloat(3f).putFloat(-4f);              // a: F32
        file.putShort((short) 0x3C00).putShort((short) 0xC000).putShort((short) 0x3800);  // b: F16 1, -2, 0.5
        file.putShort((short) 0x3FC0);                                          // c: BF16 1.5
        Path path = dir.resolve("by-hand.safetensors");
        Files.write(path, file.array());
        try (SafetensorsFile f = SafetensorsFile.open(path); NDManager m = NDManager.newBaseManager()) {
            assertThat(f.metadata()).containsEntry("format", "pt");
            assertThat(loaded(f, "a", m).values()).containsExactly(1f, 2f, 3f, -4f);
            assertThat(loaded(f, "a", m).shape()).containsExactly(2, 2);
            assertThat(loaded(f, "b", m).values()).containsExactly(1f, -2f, 0.5f);
            assertThat(loaded(f, "b", m).dtype()).isEqualTo(Dtype.F16);
            assertThat(loaded(f, "c", m).values()).containsExactly(1.5f);
            assertThat(loaded(f, "c", m).dtype()).isEqualTo(Dtype.BF16);
        }
    }

    @Test
    void theHeaderIsAlignedJsonAsTheReferenceWriterMakesIt() throws IOException {
        Path file = dir.resolve("x.safetensors");
        SafetensorsWriter.write(file, tensors(Dtype.BF16, 1), Map.of("format", "pt"));
        byte[] bytes = Files.readAllBytes(file);
        long headerLength = java.nio.ByteBuffer.wrap(bytes, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        assertThat(headerLength % 8).isZero();
        var header = new ObjectMapper().readTree(new String(bytes, 8, (int) headerLength, java.nio.charset.StandardCharsets.UTF_8));
        assertThat(header.get("model.norm.weight").get("dtype").asText()).isEqualTo("BF16");
        assertThat(header.get("model.norm.weight").get("shape").get(0).asInt()).isEqualTo(5);
    }

    @Test
    void shardedWeightsLoadThroughTheIndex() throws IOException {
        Map<String, Tensor> written = tensors(Dtype.F32, 9);
        ModelWeights.write(dir, written, 100);  // bytes: forces several shards
        assertThat(dir.resolve(ModelWeights.INDEX_FILE)).exists();
        assertThat(dir.resolve(ModelWeights.SINGLE_FILE)).doesNotExist();
        try (var stream = Files.list(dir)) {
            assertThat(stream.filter(p -> p.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors")).count())
                    .isGreaterThan(1);
        }
        try (ModelWeights weights = ModelWeights.open(dir); NDManager m = NDManager.newBaseManager()) {
            assertThat(weights.names()).containsExactlyInAnyOrderElementsOf(written.keySet());
            for (String name : written.keySet()) {
                assertThat(bits(weights.toNDArray(name, m).toFloatArray())).isEqualTo(bits(written.get(name).values()));
            }
        }
        ModelWeights.write(dir, written, ModelWeights.DEFAULT_SHARD_BYTES);
        assertThat(dir.resolve(ModelWeights.SINGLE_FILE)).exists();
        assertThat(dir.resolve(ModelWeights.INDEX_FILE)).doesNotExist();
        try (var stream = Files.list(dir)) {
            assertThat(stream.map(p -> p.getFileName().toString())).containsExactly(ModelWeights.SINGLE_FILE);
        }
    }

    /** Loaded weights own their memory: updating them in place (as an optimizer does) leaves the file as it was. */
    @ParameterizedTest
    @EnumSource(Dtype.class)
    void loadedArraysCanBeUpdatedInPlace(Dtype dtype) throws IOException {
        Path file = dir.resolve("w.safetensors");
        Map<String, Tensor> written = tensors(dtype, 5);
        SafetensorsWriter.write(file, written, Map.of());
        byte[] before = Files.readAllBytes(file);
        try (SafetensorsFile f = SafetensorsFile.open(file); NDManager m = NDManager.newBaseManager()) {
            ai.djl.ndarray.NDArray a = f.toNDArray("model.norm.weight", m);
            a.subi(1f);
            float[] expected = written.get("model.norm.weight").values().clone();
            for (int i = 0; i < expected.length; i++) {
                expected[i] -= 1f;
            }
            assertThat(a.toFloatArray()).containsExactly(expected);
        }
        assertThat(Files.readAllBytes(file)).isEqualTo(before);
    }

    /** A tensor as the model loader reads it: widened to F32 in an engine array, with its stored dtype. */
    private static Tensor loaded(SafetensorsFile f, String name, NDManager m) {
        SafetensorsFile.Entry entry = f.entries().get(name);
        return new Tensor(entry.dtype(), entry.shape(), f.toNDArray(name, m).toFloatArray());
    }

    private static int[] bits(float[] values) {
        int[] bits = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Float.floatToRawIntBits(values[i]);
        }
        return bits;
    }
}
