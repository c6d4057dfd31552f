package dev.kaizen.alignment.loss;

import java.util.LinkedHashMap;
import java.util.Map;

import ai.djl.ndarray.NDArray;

/** A loss to differentiate and its metrics, named as TRL names them. */
public record LossOutput(NDArray loss, Map<String, Double> metrics) {

    /** −log σ(x) = softplus(−x), finite for any finite x. */
    static NDArray negLogSigmoid(NDArray x) {
        return ai.djl.nn.Activation.softPlus(x.neg());
    }

    static double scalar(NDArray x) {
        return x.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).getDouble();
    }

    static Map<String, Double> metrics(NDArray loss) {
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("loss", scalar(loss));
        return m;
    }
}
