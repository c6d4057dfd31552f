package dev.kaizen.cli;

import picocli.CommandLine.Option;

import dev.kaizen.alignment.loss.PerTokenReward;
import dev.kaizen.alignment.loss.PpoLoss;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.train.PpoTrainer;

/** {@code train ppo}'s own settings, named as TRL's PPOConfig names them, with its defaults. */
final class PpoOptions {

    @Option(names = "--total-episodes", paramLabel = "N", description = "ppo: responses to sample in all (default: prompts × --epochs).")
    Integer totalEpisodes;

    @Option(names = "--num-ppo-epochs", defaultValue = "4", paramLabel = "N", description = "ppo: passes over each batch of rollouts (default: ${DEFAULT-VALUE}).")
    int ppoEpochs;

    @Option(names = "--num-mini-batches", defaultValue = "1", paramLabel = "N", description = "ppo: minibatches per pass (default: ${DEFAULT-VALUE}).")
    int miniBatches;

    @Option(names = "--kl-coef", defaultValue = "0.05", paramLabel = "λ", description = "ppo: the per-token KL penalty's coefficient (default: ${DEFAULT-VALUE}).")
    double klCoef;

    @Option(names = "--kl-estimator", defaultValue = "k1", paramLabel = "K",
            description = "ppo: k1 (log π − log πref) or k3 (unbiased, never negative) (default: ${DEFAULT-VALUE}).")
    PerTokenReward.KlEstimator klEstimator;

    @Option(names = "--target-kl", paramLabel = "NATS",
            description = "ppo: adapt λ toward this KL per response (Ziegler et al.); fixed λ when absent.")
    Double targetKl;

    @Option(names = "--kl-horizon", defaultValue = "10000", paramLabel = "N", description = "ppo: the adaptive controller's horizon (default: ${DEFAULT-VALUE}).")
    double klHorizon;

    @Option(names = "--cliprange", defaultValue = "0.2", paramLabel = "ε", description = "ppo: the surrogate's clip range (default: ${DEFAULT-VALUE}).")
    double cliprange;

    @Option(names = "--vf-coef", defaultValue = "0.1", paramLabel = "C", description = "ppo: the value loss's weight (default: ${DEFAULT-VALUE}).")
    double vfCoef;

    @Option(names = "--cliprange-value", defaultValue = "0.2", paramLabel = "ε", description = "ppo: the value loss's clip range (default: ${DEFAULT-VALUE}).")
    double cliprangeValue;

    @Option(names = "--gamma", defaultValue = "1.0", paramLabel = "γ", description = "ppo: discount (default: ${DEFAULT-VALUE}).")
    double gamma;

    @Option(names = "--lam", defaultValue = "0.95", paramLabel = "λ", description = "ppo: GAE's λ (default: ${DEFAULT-VALUE}).")
    double lam;

    @Option(names = "--temperature", defaultValue = "0.7", paramLabel = "T", description = "ppo: sampling temperature of the rollouts (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--response-length", defaultValue = "53", paramLabel = "N", description = "ppo: new tokens per response at most (default: ${DEFAULT-VALUE}).")
    int responseLength;

    @Option(names = "--missing-eos-penalty", paramLabel = "P",
            description = "ppo: subtract P from the score of a response cut off before its end-of-sequence token.")
    Double missingEosPenalty;

    PpoTrainer.Options options(int batchSize, int episodes, double learningRate, LoraAdapter.Config lora, long seed) {
        return PpoTrainer.Options.builder().batchSize(batchSize).numMiniBatches(miniBatches).numPpoEpochs(ppoEpochs)
                .totalEpisodes(episodes).learningRate(learningRate).klCoef(klCoef).klEstimator(klEstimator).targetKl(targetKl)
                .klHorizon(klHorizon).clip(new PpoLoss.Clip(cliprange, cliprangeValue, vfCoef)).gamma(gamma).lam(lam)
                .temperature(temperature).responseLength(responseLength).missingEosPenalty(missingEosPenalty).lora(lora).seed(seed).build();
    }
}
