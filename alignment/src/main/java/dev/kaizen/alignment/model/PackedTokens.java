package dev.kaizen.alignment.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * The real tokens of a padded batch [B, T], packed into [N, ·]: the projections, MLPs and norms,
 * which treat each token alone, run on the N real tokens only, and attention unpacks them into
 * its [B, T] rows. A batch of answers of unequal length spends a tenth of its matrix products on
 * padding otherwise. Unpacked, a padding slot holds a copy of the batch's first token: attention
 * masks it as a key and packing drops it as a query, so nothing reads it and its gradient is zero.
 * {@code real} [N] are the real tokens' flat positions in [B·T], {@code slots} [B·T] each slot's packed row.
 */
record PackedTokens(long batch, long length, NDArray real, NDArray slots) {

    /** The packing of a batch whose {@code attentionMask} [B, T] has padding, or null when every token is real (or none is). */
    static PackedTokens of(NDArray attentionMask) {
        long b = attentionMask.getShape().get(0);
        long t = attentionMask.getShape().get(1);
        float[] mask = attentionMask.toFloatArray();
        int n = 0;
        for (float v : mask) {
            n += v > 0 ? 1 : 0;
        }
        if (n == mask.length || n == 0) {
            return null;
        }
        long[] real = new long[n];
        long[] slots = new long[mask.length];
        int k = 0;
        for (int i = 0; i < mask.length; i++) {
            if (mask[i] > 0) {
                slots[i] = k;
                real[k++] = i;
            }
        }
        NDManager m = attentionMask.getManager();
        return new PackedTokens(b, t, m.create(real), m.create(slots));
    }

    /** Token ids [B, T] to the real ones [N]. */
    NDArray packIds(NDArray ids) {
        return ids.reshape(-1).get(real);
    }

    /** [B, T, d] (or [B·T, d]) to the real tokens' rows [N, d]; differentiable. */
    NDArray pack(NDArray x) {
        return Rows.gather(real, x.reshape(-1, x.getShape().get(x.getShape().dimension() - 1)));
    }

    /** [N, d] back to [B, T, d]; differentiable. */
    NDArray unpack(NDArray x) {
        return Rows.gather(slots, x).reshape(batch, length, x.getShape().get(1));
    }
}
