package dev.kaizen.alignment.model;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import ai.djl.Device;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.kaizen.alignment.weights.Dtype;
import dev.kaizen.alignment.weights.ModelWeights;
import dev.kaizen.alignment.weights.SafetensorsWriter;
import dev.kaizen.alignment.weights.Tensor;

/** Each broken directory is refused with a message that names the file at fault. */
class BadModelDirectoryTest {

    @TempDir
    Path dir;

    private Path weights;

    @BeforeEach
    void writeAGoodModel() throws IOException {
        LlamaConfig config = LlamaConfig.parse(TinyConfigs.llama());
        try (LlamaForCausalLM model = LlamaForCausalLM.fromTensors(config, TinyConfigs.randomWeights(config, 1, Dtype.BF16), Device.cpu())) {
            model.save(dir, ModelWeights.DEFAULT_SHARD_BYTES);
        }
        weights = dir.resolve(ModelWeights.SINGLE_FILE);
        try (LlamaForCausalLM reloaded = LlamaForCausalLM.load(dir, Device.cpu())) {
            // the unbroken directory loads; each test below breaks one thing
        }
    }

    @Test
    void missingConfig() throws IOException {
        Files.delete(dir.resolve("config.json"));
        refused(dir.resolve("config.json").toString(), "missing");
    }

    @Test
    void configThatIsNotJson() throws IOException {
        Files.writeString(dir.resolve("config.json"), "{\"architectures\": [");
        refused("config.json", "not valid JSON");
    }

    @Test
    void unknownArchitecture() throws IOException {
        ObjectNode c = TinyConfigs.llama();
        c.putArray("architectures").add("GPT2LMHeadModel");
        writeConfig(c);
        refused("config.json", "architecture 'GPT2LMHeadModel' is not one Kaizen serves");
    }

    @Test
    void headsThatDoNotDivide() throws IOException {
        writeConfig(TinyConfigs.llama().put("num_key_value_heads", 3));
        refused("config.json", "not a multiple of num_key_value_heads 3");
    }

    @Test
    void unsupportedRopeScaling() throws IOException {
        ObjectNode c = TinyConfigs.llama();
        c.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4.0);
        writeConfig(c);
        refused("config.json", "rope_scaling type 'yarn' is not supported");
    }

    @Test
    void missingWeights() throws IOException {
        Files.delete(weights);
        refused(weights.toString(), "missing");
    }

    @Test
    void weightsOfAnotherShape() throws IOException {
        writeConfig(TinyConfigs.llama().put("intermediate_size", 64));
        refused(weights.toString(), "model.layers.0.mlp.gate_proj.weight has shape [48, 32] but config.json implies [64, 32]");
    }

    @Test
    void weightsMissingATensor() throws IOException {
        writeConfig(TinyConfigs.llama().put("num_hidden_layers", 3));
        refused(weights.toString(), "has no tensor model.layers.2.self_attn.q_proj.weight");
    }

    @Test
    void headerLengthPastTheEndOfTheFile() throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(weights.toFile(), "rw")) {
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array());
        }
        refused(weights.toString(), "corrupt safetensors header: declared length");
    }

    @Test
    void headerThatIsNotJson() throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(weights.toFile(), "rw")) {
            f.seek(8);
            f.write("garbage!".getBytes());
        }
        refused(weights.toString(), "corrupt safetensors header: not JSON");
    }

    @Test
    void truncatedData() throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(weights.toFile(), "rw")) {
            f.setLength(f.length() - 10);
        }
        refused(weights.toString(), "data_offsets [38784, 38848] outside the 38838 data bytes");
    }

    @Test
    void anUnsupportedDtype() throws IOException {
        SafetensorsWriter.write(weights, Map.of("x", new Tensor(Dtype.F32, new long[] {1}, new float[] {1})), Map.of());
        byte[] bytes = Files.readAllBytes(weights);
        Files.write(weights, new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1).replace("\"F32\"", "\"I64\"")
                .getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        refused(weights.toString(), "has dtype 'I64'");
    }

    @Test
    void anIndexNamingAMissingShard() throws IOException {
        Files.delete(weights);
        Files.writeString(dir.resolve(ModelWeights.INDEX_FILE),
                "{\"weight_map\": {\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\"}}");
        refused(dir.resolve("model-00001-of-00002.safetensors").toString(), "missing");
    }

    private void writeConfig(ObjectNode json) throws IOException {
        Files.writeString(dir.resolve("config.json"), json.toString());
    }

    private void refused(String file, String problem) {
        assertThatThrownBy(() -> LlamaForCausalLM.load(dir, Device.cpu()).close())
                .isInstanceOf(ModelDirectoryException.class)
                .hasMessageContaining(file)
                .hasMessageContaining(problem);
    }
}
