package dev.kaizen.alignment.train;

/** A step whose gradient norm is NaN or infinite; the gradients are zeroed and nothing is updated. */
public final class NonFiniteGradientException extends RuntimeException {

    public NonFiniteGradientException(double norm) {
        super("the gradient norm is not finite: " + norm);
    }
}
