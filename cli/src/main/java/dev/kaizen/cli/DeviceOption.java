package dev.kaizen.cli;

import ai.djl.Device;
import picocli.CommandLine.Option;

/** {@code --device cpu|gpu|gpu:N}: where the model runs (CUDA needs the jar built with -Dcuda). */
final class DeviceOption {

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "DEVICE",
            description = "cpu (default), gpu or gpu:N; the GPU needs natives built with mvn -Dcuda.")
    String device;

    Device device() {
        return Device.fromName(device);
    }
}
