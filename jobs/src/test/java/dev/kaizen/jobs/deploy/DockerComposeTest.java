package dev.kaizen.jobs.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.junit.jupiter.api.Test;

import dev.kaizen.jobs.continual.JobConfig;

/** docker-compose.yml is valid for Debian's docker-compose, and what it mounts and runs fits the project. */
class DockerComposeTest {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @Test
    void debiansDockerComposeAcceptsItWithAndWithoutTheVllmProfile() throws Exception {
        for (List<String> profile : List.of(List.<String>of(), List.of("--profile", "vllm"))) {
            List<String> command = new ArrayList<>(List.of("docker-compose", "-f", ROOT.resolve("docker-compose.yml").toString()));
            command.addAll(profile);
            command.addAll(List.of("config", "-q"));
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(String.join(" ", command) + "\n" + output).isZero();
        }
    }

    /** vLLM with runtime LoRA, rollout writing adapters where vLLM reads them, and the gateway in front, on the serving's model and store. */
    @Test
    void theVllmProfileRollsVersionsIntoVllmAndPutsTheGatewayInFront() throws Exception {
        JsonNode compose = new ObjectMapper(new YAMLFactory()).readTree(ROOT.resolve("docker-compose.yml").toFile());
        for (String service : List.of("vllm", "rollout", "gateway")) {
            assertThat(compose.at("/services/" + service + "/profiles").toString()).as(service).isEqualTo("[\"vllm\"]");
        }
        JsonNode vllm = compose.at("/services/vllm");
        assertThat(vllm.at("/environment/VLLM_ALLOW_RUNTIME_LORA_UPDATING").asText()).isEqualTo("True");
        assertThat(vllm.get("command").toString()).contains("\"--enable-lora\"").contains("\"--served-model-name\",\"${MODEL_ID:-base}\"");
        assertThat(vllm.get("volumes").toString()).contains("vllm-adapters:/adapters");
        assertThat(compose.at("/services/rollout/volumes").toString()).contains("vllm-adapters:/adapters");
        String rollout = compose.at("/services/rollout/command").toString();
        assertThat(rollout).contains("\"rollout\",\"vllm\",\"--url\",\"http://vllm:8000\"").contains("\"--adapter-dir\",\"/adapters\"");
        String gateway = compose.at("/services/gateway/command").toString();
        String serving = compose.at("/services/serving/command").toString();
        assertThat(gateway).contains("\"serve\",\"--upstream\",\"http://vllm:8000\"").doesNotContain("\"--model\"");
        for (String shared : List.of("\"--model-id\",\"${MODEL_ID:-base}\"", "\"--checkpoint-root\",\"file:///data/store\"")) {
            assertThat(gateway).contains(shared);
            assertThat(rollout).contains(shared);
            assertThat(serving).contains(shared);
        }
    }

    @Test
    void itRunsTheJobJarWithAConfigTheJobAcceptsAndServesFromTheSameStore() throws Exception {
        JsonNode compose = new ObjectMapper(new YAMLFactory()).readTree(ROOT.resolve("docker-compose.yml").toFile());
        List<String> services = new ArrayList<>();
        compose.get("services").fieldNames().forEachRemaining(services::add);
        assertThat(services).containsExactlyInAnyOrder("kafka", "topics", "jobmanager", "taskmanager", "submit", "serving", "vllm", "rollout",
                "gateway", "prometheus", "grafana");

        // Every file the services mount from the repository is there (build outputs and your model aside).
        for (JsonNode service : compose.get("services")) {
            for (JsonNode volume : service.path("volumes")) {
                String host = volume.asText().split(":")[0];
                if (host.startsWith("./") && !host.matches("\\./(jobs|cli)/target/.*") && !host.startsWith("./models")) {
                    assertThat(ROOT.resolve(host)).as(volume.asText()).exists();
                }
            }
        }
        assertThat(compose.at("/services/submit/command/2").asText()).contains("/opt/flink/usrlib/kaizen-job.jar")
                .contains("--config /opt/kaizen/kaizen.yaml");

        JobConfig config = JobConfig.load(ROOT.resolve("deploy/compose/kaizen.yaml"), List.of());
        assertThat(config.trains()).isTrue();
        assertThat(config.kafka().bootstrapServers()).isEqualTo("kafka:9092");
        String serve = compose.at("/services/serving/command").toString();
        assertThat(serve).contains("\"--checkpoint-root\",\"" + config.training().checkpointRoot() + "\"")
                .contains("\"--model\",\"" + config.training().baseModelDir() + "\"");
        assertThat(Files.readString(ROOT.resolve("deploy/flink/config.yaml"))).contains("state.backend.type: rocksdb");
    }
}
