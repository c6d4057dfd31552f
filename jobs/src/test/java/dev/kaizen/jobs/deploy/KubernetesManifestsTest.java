package dev.kaizen.jobs.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.ExternalResourceOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.runtime.util.EnvironmentInformation;
import org.junit.jupiter.api.Test;

import dev.kaizen.jobs.continual.JobConfig;

/**
 * deploy/k8s, read as the API server and the operator would: every document names its kind, the
 * FlinkDeployment upgrades through savepoints with RocksDB and a GPU in Flink's current keys, its
 * job config loads, and serving reads the store the task managers write.
 */
class KubernetesManifestsTest {

    private static final Path K8S = Path.of("../deploy/k8s");

    private static Map<String, JsonNode> documents() throws Exception {
        return documents(K8S);
    }

    private static Map<String, JsonNode> documents(Path folder) throws Exception {
        Map<String, JsonNode> byKindAndName = new java.util.HashMap<>();
        try (Stream<Path> files = Files.list(folder)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml") && !p.endsWith("kustomization.yaml")).toList()) {
                for (JsonNode doc : new YAMLMapper().readValues(new YAMLFactory().createParser(f.toFile()), JsonNode.class).readAll()) {
                    assertThat(doc.path("apiVersion").asText()).as(f + " apiVersion").isNotBlank();
                    assertThat(doc.path("metadata").path("name").asText()).as(f + " metadata.name").isNotBlank();
                    byKindAndName.put(doc.get("kind").asText() + "/" + doc.at("/metadata/name").asText(), doc);
                }
            }
        }
        return byKindAndName;
    }

    @Test
    void theJobUpgradesThroughSavepointsWithRocksDbAndAGpuInCurrentFlinkKeys() throws Exception {
        Map<String, JsonNode> docs = documents();
        JsonNode flink = docs.get("FlinkDeployment/kaizen-continual-kto");
        assertThat(flink.get("apiVersion").asText()).isEqualTo("flink.apache.org/v1beta1");
        assertThat(flink.at("/spec/job/upgradeMode").asText()).isEqualTo("savepoint");
        assertThat(flink.at("/spec/job/jarURI").asText()).isEqualTo("local:///opt/flink/usrlib/kaizen-job.jar");
        assertThat(flink.at("/spec/job/entryClass").asText()).isEqualTo("dev.kaizen.jobs.continual.ContinualKtoJob");

        JsonNode conf = flink.at("/spec/flinkConfiguration");
        assertThat(conf.get("state.backend.type").asText()).isEqualTo("rocksdb");
        assertThat(conf.get("execution.checkpointing.incremental").asText()).isEqualTo("true");
        assertThat(conf.get("external-resources").asText()).isEqualTo("gpu");
        assertThat(conf.get("external-resource.gpu.kubernetes.config-key").asText()).isEqualTo("nvidia.com/gpu");
        assertThat(conf.get("env.java.opts.all").asText()).contains("-Dai.djl.offline=true");
        Set<String> known = Stream.of(CheckpointingOptions.class, StateBackendOptions.class, RestartStrategyOptions.class,
                        CoreOptions.class, TaskManagerOptions.class, ExternalResourceOptions.class)
                .flatMap(c -> Stream.of(c.getFields()))
                .filter(f -> Modifier.isStatic(f.getModifiers()) && f.getType() == ConfigOption.class)
                .map(f -> {
                    try {
                        return ((ConfigOption<?>) f.get(null)).key();
                    } catch (IllegalAccessException e) {
                        throw new IllegalStateException(e);
                    }
                }).collect(Collectors.toSet());
        List<String> keys = new ArrayList<>();
        conf.fieldNames().forEachRemaining(keys::add);
        // The per-resource and per-reporter keys are templates in Flink's options.
        assertThat(keys.stream().filter(k -> !k.startsWith("external-resource.gpu.") && !k.startsWith("metrics.reporter.prom.")))
                .allMatch(known::contains);
        FlinkConfigTest.assertPrometheusReporter(conf.get("metrics.reporter.prom.factory.class").asText(),
                conf.get("metrics.reporter.prom.port").asText());

        File config = Files.createTempFile("kaizen", ".yaml").toFile();
        config.deleteOnExit();
        Files.writeString(config.toPath(), docs.get("ConfigMap/kaizen-config").at("/data/kaizen.yaml").asText());
        JobConfig job = JobConfig.load(config.toPath(), List.of());
        assertThat(job.trains()).isTrue();

        JsonNode serving = docs.get("Deployment/kaizen-serving");
        // Readiness follows Kafka and the model without a token; liveness only the HTTP server.
        assertThat(serving.at("/spec/template/spec/containers/0/readinessProbe/httpGet/path").asText()).isEqualTo("/readyz");
        assertThat(serving.at("/spec/template/spec/containers/0/livenessProbe/httpGet/path").asText()).isEqualTo("/");
        String args = serving.at("/spec/template/spec/containers/0/args").toString();
        assertThat(args).contains("\"serve\"").contains("\"--checkpoint-root\",\"" + job.training().checkpointRoot() + "\"")
                .contains("\"--model\",\"" + job.training().baseModelDir() + "\"");
        assertThat(docs.get("Service/kaizen-serving").at("/spec/selector/app").asText())
                .isEqualTo(serving.at("/spec/template/metadata/labels/app").asText());
        assertThat(new ObjectMapper().writeValueAsString(flink.at("/spec/podTemplate")))
                .contains("kaizen-store").contains("/data/store");
    }

    /**
     * The FlinkDeployment against the Flink Kubernetes operator's own published CRD (its API jar from
     * Maven Central), as the API server would check it: field names, types, enums. The newest jar this
     * build is served (1.10) predates Flink 2, so its flinkVersion enum stops at v1_20: that one field
     * is held to the operator's naming (v2_2 needs operator 1.13 or later) instead of that enum.
     */
    @Test
    void theFlinkDeploymentFitsTheOperatorsPublishedCrd() throws Exception {
        JsonNode crd;
        try (var in = getClass().getResourceAsStream("/META-INF/fabric8/flinkdeployments.flink.apache.org-v1.yml")) {
            assertThat(in).as("the operator API jar's CRD on the test class path").isNotNull();
            crd = new YAMLMapper().readTree(in);
        }
        JsonNode flink = documents().get("FlinkDeployment/kaizen-continual-kto");
        String version = flink.get("apiVersion").asText().substring("flink.apache.org/".length());
        JsonNode schema = null;
        for (JsonNode v : crd.at("/spec/versions")) {
            if (v.get("name").asText().equals(version)) {
                schema = v.at("/schema/openAPIV3Schema");
            }
        }
        assertThat(schema).as("the CRD serves " + version).isNotNull();
        // The API server checks apiVersion, kind and metadata itself (TypeMeta, ObjectMeta), not by this schema.
        JsonNode body = flink.deepCopy();
        ((ObjectNode) body).remove(List.of("apiVersion", "kind", "metadata"));
        List<String> violations = StructuralSchema.violations(schema, body, "");
        assertThat(violations).as("violations of the operator's CRD").containsExactly(
                ".spec.flinkVersion: \"v2_2\" is not one of " + schema.at("/properties/spec/properties/flinkVersion/enum"));
        assertThat(flink.at("/spec/flinkVersion").asText()).as("the operator's name for the Flink of the job jar")
                .isEqualTo("v" + EnvironmentInformation.getVersion().replaceAll("^(\\d+)\\.(\\d+).*", "$1_$2"));
        assertThat(StructuralSchema.violations(schema, withField(body, "spec", "jobManger"), "")).as("a misspelt field is caught")
                .contains(".spec.jobManger: not a field of the schema");
    }

    private static JsonNode withField(JsonNode body, String at, String field) {
        JsonNode copy = body.deepCopy();
        ((ObjectNode) copy.get(at)).putObject(field);
        return copy;
    }

    /** deploy/kustomization.yaml applies every manifest, and makes its ConfigMaps from the files compose mounts. */
    @Test
    void theKustomizationAppliesEveryManifestAndTheDashboardAndAlertsCompose() throws Exception {
        JsonNode kustomization = new YAMLMapper().readTree(K8S.resolveSibling("kustomization.yaml").toFile());
        List<String> manifests;
        try (Stream<Path> files = Files.list(K8S)) {
            manifests = files.filter(p -> p.toString().endsWith(".yaml")).map(p -> "k8s/" + p.getFileName()).toList();
        }
        List<String> resources = new ArrayList<>();
        kustomization.get("resources").forEach(r -> resources.add(r.asText()));
        assertThat(resources).containsExactlyInAnyOrderElementsOf(manifests);
        List<String> generated = new ArrayList<>();
        for (JsonNode map : kustomization.get("configMapGenerator")) {
            map.get("files").forEach(f -> generated.add(f.asText()));
        }
        assertThat(generated).containsExactlyInAnyOrder("grafana/dashboards/kaizen.json", "prometheus/alerts.yml");
        generated.forEach(f -> assertThat(K8S.resolveSibling(f)).exists());
        assertThat(kustomization.at("/configMapGenerator/0/options/labels/grafana_dashboard").asText()).isEqualTo("1");
    }

    /**
     * deploy/vllm: vLLM with runtime LoRA, rollout beside it writing adapters where vLLM reads them and
     * loading them on its port, the gateway in front on the vLLM Service, all on serving's model id and store.
     */
    @Test
    void theVllmManifestsRollVersionsIntoVllmAndPutTheGatewayInFront() throws Exception {
        Map<String, JsonNode> vllm = documents(K8S.resolveSibling("vllm"));
        JsonNode kustomization = new YAMLMapper().readTree(K8S.resolveSibling("vllm/kustomization.yaml").toFile());
        assertThat(kustomization.get("resources").toString()).isEqualTo("[\"vllm.yaml\"]");
        List<String> servingArgs = args(documents().get("Deployment/kaizen-serving"), 0);
        String modelId = servingArgs.get(servingArgs.indexOf("--model-id") + 1);
        String store = servingArgs.get(servingArgs.indexOf("--checkpoint-root") + 1);

        JsonNode pod = vllm.get("Deployment/kaizen-vllm").at("/spec/template/spec");
        JsonNode server = pod.at("/containers/0");
        List<String> serverArgs = args(vllm.get("Deployment/kaizen-vllm"), 0);
        assertThat(serverArgs).contains("--enable-lora");
        assertThat(serverArgs.get(serverArgs.indexOf("--served-model-name") + 1)).as("version 0 is asked for by the model id").isEqualTo(modelId);
        assertThat(server.get("env").toString()).contains("{\"name\":\"VLLM_ALLOW_RUNTIME_LORA_UPDATING\",\"value\":\"True\"}");
        String port = serverArgs.get(serverArgs.indexOf("--port") + 1);
        assertThat(server.at("/ports/0/containerPort").asText()).isEqualTo(port);
        List<String> rollout = args(vllm.get("Deployment/kaizen-vllm"), 1);
        assertThat(rollout.subList(0, 2)).containsExactly("rollout", "vllm");
        assertThat(rollout.get(rollout.indexOf("--url") + 1)).isEqualTo("http://localhost:" + port);
        String adapters = rollout.get(rollout.indexOf("--adapter-dir") + 1);
        for (int c = 0; c < 2; c++) {
            assertThat(pod.at("/containers/" + c + "/volumeMounts").toString()).as("both containers see the adapters at one path")
                    .contains("{\"name\":\"adapters\",\"mountPath\":\"" + adapters + "\"}");
        }
        JsonNode service = vllm.get("Service/kaizen-vllm");
        assertThat(service.at("/spec/selector/app").asText()).isEqualTo("kaizen-vllm");

        List<String> gateway = args(vllm.get("Deployment/kaizen-gateway"), 0);
        assertThat(gateway).doesNotContain("--model");
        assertThat(gateway.get(gateway.indexOf("--upstream") + 1))
                .isEqualTo("http://" + service.at("/metadata/name").asText() + ":" + service.at("/spec/ports/0/port").asText());
        for (List<String> args : List.of(rollout, gateway)) {
            assertThat(args.get(args.indexOf("--model-id") + 1)).isEqualTo(modelId);
            assertThat(args.get(args.indexOf("--checkpoint-root") + 1)).isEqualTo(store);
        }
        assertThat(vllm.get("Deployment/kaizen-gateway").at("/spec/template/spec/containers/0/readinessProbe/httpGet/path").asText())
                .isEqualTo("/readyz");
        assertThat(vllm.get("PodMonitor/kaizen-gateway").at("/spec/selector/matchLabels/app").asText()).isEqualTo("kaizen-gateway");
    }

    private static List<String> args(JsonNode deployment, int container) {
        List<String> args = new ArrayList<>();
        deployment.at("/spec/template/spec/containers/" + container + "/args").forEach(a -> args.add(a.asText()));
        return args;
    }

    @Test
    void prometheusFindsTheJobsPodsAndServingsByTheLabelsAndPortsTheyCarry() throws Exception {
        Map<String, JsonNode> docs = documents();
        JsonNode flink = docs.get("FlinkDeployment/kaizen-continual-kto");
        String reporterPort = flink.at("/spec/flinkConfiguration").get("metrics.reporter.prom.port").asText();
        JsonNode flinkPods = docs.get("PodMonitor/kaizen-continual-kto");
        // The operator labels the job's pods app=<FlinkDeployment name>.
        assertThat(flinkPods.at("/spec/selector/matchLabels/app").asText()).isEqualTo(flink.at("/metadata/name").asText());
        String port = flinkPods.at("/spec/podMetricsEndpoints/0/port").asText();
        assertThat(flink.at("/spec/podTemplate/spec/containers/0/ports").findValuesAsText("name")).contains(port);
        for (JsonNode p : flink.at("/spec/podTemplate/spec/containers/0/ports")) {
            if (p.get("name").asText().equals(port)) {
                assertThat(p.get("containerPort").asText()).isEqualTo(reporterPort);
            }
        }
        assertThat(flink.at("/spec/podTemplate/metadata/annotations").get("prometheus.io/port").asText()).isEqualTo(reporterPort);

        JsonNode serving = docs.get("Deployment/kaizen-serving");
        JsonNode servingPods = docs.get("PodMonitor/kaizen-serving");
        assertThat(servingPods.at("/spec/selector/matchLabels/app").asText()).isEqualTo(serving.at("/spec/template/metadata/labels/app").asText());
        assertThat(servingPods.at("/spec/podMetricsEndpoints/0/path").asText()).isEqualTo("/metrics");
        assertThat(serving.at("/spec/template/spec/containers/0/ports").findValuesAsText("name"))
                .contains(servingPods.at("/spec/podMetricsEndpoints/0/port").asText());
        assertThat(serving.at("/spec/template/metadata/annotations").get("prometheus.io/port").asText())
                .isEqualTo(serving.at("/spec/template/spec/containers/0/ports/0/containerPort").asText());
    }
}
