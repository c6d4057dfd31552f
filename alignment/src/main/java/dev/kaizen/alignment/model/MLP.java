package dev.kaizen.alignment.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;

/** SwiGLU: down(silu(gate(x)) · up(x)). */
final class MLP {

    final Linear gateProj;
    final Linear upProj;
    final Linear downProj;

    MLP(Linear gateProj, Linear upProj, Linear downProj) {
        this.gateProj = gateProj;
        this.upProj = upProj;
        this.downProj = downProj;
    }

    NDArray forward(NDArray x) {
        NDArray gate = gateProj.forward(x);
        NDArray silu = gate.mul(Activation.sigmoid(gate));
        return downProj.forward(silu.mul(upProj.forward(x)));
    }
}
