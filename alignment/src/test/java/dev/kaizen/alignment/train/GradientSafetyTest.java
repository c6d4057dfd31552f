package dev.kaizen.alignment.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

import dev.kaizen.alignment.TestModels;
import dev.kaizen.alignment.loss.KtoLoss;
import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;
import dev.kaizen.alignment.model.NoGrad;
import dev.kaizen.alignment.score.PaddedBatch;
import dev.kaizen.alignment.score.Scorer;

/**
 * Everything autograd keeps for backward must outlive the forward: a garbage collection and fresh
 * direct buffers between forward and backward leave the gradients exactly as they were. (DJL's
 * {@code mul(Number)} frees its scalar at once; used in the model or a loss, this test breaks.)
 */
class GradientSafetyTest {

    @Test
    void collectingGarbageBetweenForwardAndBackwardChangesNoGradient() {
        try (LlamaForCausalLM model = LlamaForCausalLM.load(TestModels.tiny(), Device.cpu());
             LoraAdapter adapter = LoraAdapter.attach(model, new LoraAdapter.Config(4, 8, 0, LoraAdapter.ALL_TARGETS), 3)) {
            adapter.parameters().values().forEach(p -> p.setRequiresGradient(true));
            // Make B non-zero so every adapter weight gets a gradient.
            try (NoGrad noGrad = NoGrad.enter()) {
                adapter.parameters().forEach((name, p) -> {
                    if (name.endsWith("lora_B.weight")) {
                        p.addi(0.01f);
                    }
                });
            }
            Map<String, float[]> quiet = gradients(model, adapter, false);
            Map<String, float[]> disturbed = gradients(model, adapter, true);
            assertThat(disturbed.keySet()).isEqualTo(quiet.keySet());
            quiet.forEach((name, g) -> assertThat(disturbed.get(name)).as(name).containsExactly(g));
            assertThat(quiet.values().stream().anyMatch(g -> g[0] != 0)).isTrue();
        }
    }

    private static Map<String, float[]> gradients(LlamaForCausalLM model, LoraAdapter adapter, boolean disturb) {
        PaddedBatch batch = PaddedBatch.of(List.of(new Scorer.Sequence(new int[] {1, 40, 41, 42, 43, 44}, 2),
                new Scorer.Sequence(new int[] {1, 50, 51, 52}, 2)));
        PaddedBatch pairs = PaddedBatch.of(List.of(new Scorer.Sequence(new int[] {1, 40, 51, 52}, 2),
                new Scorer.Sequence(new int[] {1, 50, 41, 42, 43, 44}, 2)));
        try (GradientLease lease = GradientLease.acquire();
             GradientCollector collector = Engine.getInstance().newGradientCollector();
             NDScope scope = new NDScope();
             NDManager m = model.manager().newSubManager()) {
            NDArray policy = batch.completionSums(model, m);
            NDArray kl = pairs.completionSums(model, m).stopGradient();
            NDArray loss = KtoLoss.compute(policy, policy.stopGradient().sub(m.create(0.5f)), kl, kl.sub(m.create(0.1f)),
                    m.create(new float[] {1, 0}), KtoLoss.Config.defaults()).loss();
            if (disturb) {
                System.gc();
                List<ByteBuffer> churn = new ArrayList<>();
                for (int i = 0; i < 4096; i++) {
                    ByteBuffer b = ByteBuffer.allocateDirect(i % 2 == 0 ? 4 : 4096);
                    while (b.hasRemaining()) {
                        b.put((byte) 0x7F);
                    }
                    churn.add(b);
                }
            }
            collector.backward(loss);
        }
        Map<String, float[]> grads = new LinkedHashMap<>();
        adapter.parameters().forEach((name, p) -> {
            try (NDArray g = p.getGradient()) {
                grads.put(name, g.toFloatArray());
            }
            ai.djl.pytorch.jni.JniUtils.zeroGrad((ai.djl.pytorch.engine.PtNDArray) p);
        });
        return grads;
    }
}
