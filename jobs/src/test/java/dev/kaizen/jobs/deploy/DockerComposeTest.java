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
    void debiansDockerComposeAcceptsIt() throws Exception {
        Process p = new ProcessBuilder("docker-compose", "-f", ROOT.resolve("docker-compose.yml").toString(), "config", "-q")
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(output).isZero();
    }

    @Test
    void itRunsTheJobJarWithAConfigTheJobAcceptsAndServesFromTheSameStore() throws Exception {
        JsonNode compose = new ObjectMapper(new YAMLFactory()).readTree(ROOT.resolve("docker-compose.yml").toFile());
        List<String> services = new ArrayList<>();
        compose.get("services").fieldNames().forEachRemaining(services::add);
        assertThat(services).containsExactlyInAnyOrder("kafka", "topics", "jobmanager", "taskmanager", "submit", "serving", "prometheus", "grafana");

        // Every file the services mount from the repository is there (build outputs and your model aside).
        for (JsonNode service : compose.get("services")) {
            for (JsonNode volume : service.path("volumes")) {
                String host = volume.asText().split(":")[0];
                if (host.startsWith("./") && !host.startsWith("./jobs/target/") && !host.startsWith("./models")) {
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
