package dev.kaizen.cli;

import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import dev.kaizen.serving.follow.VersionFollower;

/** What a follower of model-updates needs: which model, Kafka (security settings passed through), the topic, and the store it trusts. */
final class FollowOptions {

    @Option(names = "--model-id", required = true, paramLabel = "ID", description = "Which model's versions to follow, as the job names it.")
    String modelId;

    @Mixin
    KafkaOptions kafka;

    @Option(names = "--checkpoint-root", defaultValue = "file:///tmp/kaizen/checkpoints", paramLabel = "URI",
            description = "The job's checkpoint store; versions stored anywhere else are refused (default: ${DEFAULT-VALUE}).")
    String checkpointRoot;

    @Option(names = "--model-updates-topic", defaultValue = "model-updates", paramLabel = "TOPIC", description = "Default: ${DEFAULT-VALUE}.")
    String updatesTopic;

    @Option(names = "--model-rejections-topic", defaultValue = "model-rejections", paramLabel = "TOPIC",
            description = "Where the job reports the candidates its release gate refused, which the page marks (default: ${DEFAULT-VALUE}).")
    String rejectionsTopic;

    @Option(names = "--model-releases-topic", defaultValue = "model-releases", paramLabel = "TOPIC",
            description = "The job's canary verdicts: which release is promoted, which is on trial, which was rolled back (default: ${DEFAULT-VALUE}).")
    String releasesTopic;

    VersionFollower.Options options() {
        return new VersionFollower.Options(modelId, kafka.clients(), updatesTopic, checkpointRoot, rejectionsTopic, releasesTopic);
    }
}
