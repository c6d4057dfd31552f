package dev.kaizen.alignment.tokenize;

import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;

/**
 * A Hugging Face chat template (the Jinja source in tokenizer_config.json), rendered the way
 * transformers' apply_chat_template does: trim_blocks and lstrip_blocks on, the special tokens and
 * {@code add_generation_prompt} bound, {@code raise_exception} and {@code strftime_now} defined.
 */
public final class ChatTemplate {

    /** One chat turn. */
    public record Message(String role, String content) {}

    private final String source;
    private final Map<String, String> specialTokens;
    private final Jinjava jinja;

    public ChatTemplate(String source, Map<String, String> specialTokens) {
        this.source = source;
        this.specialTokens = Map.copyOf(specialTokens);
        // Hugging Face renders with Python's Jinja2; these switch Jinjava's legacy behaviours to Jinja2's.
        LegacyOverrides jinja2 = LegacyOverrides.newBuilder()
                .withUseTrimmingForNotesAndExpressions(true)
                .withParseWhitespaceControlStrictly(true)
                .withUseNaturalOperatorPrecedence(true)
                .withEvaluateMapKeys(true)
                .withIterateOverMapKeys(true)
                .withUsePyishObjectMapper(true)
                .withKeepNullableLoopValues(true)
                .build();
        this.jinja = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true)
                .withLegacyOverrides(jinja2).build());
        jinja.getGlobalContext().registerFunction(
                new ELFunctionDefinition("", "raise_exception", ChatTemplate.class, "raiseException", String.class));
        jinja.getGlobalContext().registerFunction(
                new ELFunctionDefinition("", "strftime_now", ChatTemplate.class, "strftimeNow", String.class));
    }

    public String render(List<Message> messages, boolean addGenerationPrompt) {
        Map<String, Object> bindings = new HashMap<>(specialTokens);
        bindings.put("messages", messages.stream().map(m -> {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            return map;
        }).toList());
        bindings.put("add_generation_prompt", addGenerationPrompt);
        RenderResult result = jinja.renderForResult(source, bindings);
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw new IllegalArgumentException("chat template: " + raisedMessage(error.getException())
                        .orElse(error.getMessage()));
            }
        }
        return result.getOutput();
    }

    private static Optional<String> raisedMessage(Throwable t) {
        for (; t != null; t = t.getCause()) {
            if (t instanceof TemplateRaised) {
                return Optional.of(t.getMessage());
            }
        }
        return Optional.empty();
    }

    /** The template's own refusal, e.g. of a role it does not know. */
    static final class TemplateRaised extends RuntimeException {
        TemplateRaised(String message) {
            super(message);
        }
    }

    public static Object raiseException(String message) {
        throw new TemplateRaised(message);
    }

    /** Python's strftime for the few directives chat templates use (Llama 3's date line). */
    public static String strftimeNow(String format) {
        String java = format.replace("%d", "dd").replace("%b", "MMM").replace("%B", "MMMM")
                .replace("%Y", "yyyy").replace("%m", "MM");
        return LocalDate.now().format(DateTimeFormatter.ofPattern(java, Locale.ENGLISH));
    }
}
