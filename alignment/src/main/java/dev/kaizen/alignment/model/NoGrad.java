package dev.kaizen.alignment.model;

import ai.djl.pytorch.jni.JniUtils;

/**
 * PyTorch's grad mode off for the current thread until closed, then back to what it was: inference
 * builds no autograd graph, and a training thread that also generates keeps training afterwards.
 */
public final class NoGrad implements AutoCloseable {

    private final boolean previous;

    private NoGrad() {
        previous = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
    }

    public static NoGrad enter() {
        return new NoGrad();
    }

    @Override
    public void close() {
        JniUtils.setGradMode(previous);
    }
}
