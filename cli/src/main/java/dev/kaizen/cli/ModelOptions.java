package dev.kaizen.cli;

import java.nio.file.Path;

import picocli.CommandLine.Option;

import dev.kaizen.alignment.model.LlamaForCausalLM;
import dev.kaizen.alignment.model.LoraAdapter;

/** {@code --model DIR [--adapter DIR]}: the model a command reads, with a PEFT adapter applied when given. */
final class ModelOptions {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model directory.")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "A PEFT LoRA adapter directory to apply.")
    Path adapter;

    LlamaForCausalLM load(DeviceOption device) {
        LlamaForCausalLM loaded = LlamaForCausalLM.load(model, device.device());
        if (adapter != null) {
            try {
                LoraAdapter.load(loaded, adapter);  // owned by the model's manager: closed with it
            } catch (RuntimeException e) {
                loaded.close();
                throw e;
            }
        }
        return loaded;
    }
}
