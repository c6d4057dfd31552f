package dev.kaizen.jobs.deploy;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * What the Kubernetes API server checks a custom resource for against its CRD's structural
 * schema (openAPIV3Schema): each field's type, enum and required fields, and no field the schema
 * does not name (the server would prune it silently, a typo lost) unless the schema preserves
 * unknown fields. JSON Schema validators take an unnamed field as allowed, so this walks the schema itself.
 */
final class StructuralSchema {

    private StructuralSchema() {}

    /** Every violation in {@code value} at {@code path} ("" for the resource), as "path: what". */
    static List<String> violations(JsonNode schema, JsonNode value, String path) {
        List<String> out = new ArrayList<>();
        check(schema, value, path, out);
        return out;
    }

    private static void check(JsonNode schema, JsonNode value, String path, List<String> out) {
        if (schema.path("x-kubernetes-int-or-string").asBoolean()) {
            if (!value.isIntegralNumber() && !value.isTextual()) {
                out.add(path + ": not an integer or a string");
            }
            return;
        }
        if (schema.has("enum") && !contains(schema.get("enum"), value)) {
            out.add(path + ": " + value + " is not one of " + schema.get("enum"));
        }
        String type = schema.path("type").asText("");
        switch (type) {
            case "object" -> object(schema, value, path, out);
            case "array" -> {
                if (!value.isArray()) {
                    out.add(path + ": not an array");
                    return;
                }
                for (int i = 0; i < value.size(); i++) {
                    check(schema.get("items"), value.get(i), path + "[" + i + "]", out);
                }
            }
            case "string" -> expect(value.isTextual(), path, type, out);
            case "integer" -> expect(value.isIntegralNumber(), path, type, out);
            case "number" -> expect(value.isNumber(), path, type, out);
            case "boolean" -> expect(value.isBoolean(), path, type, out);
            default -> { }
        }
    }

    private static void object(JsonNode schema, JsonNode value, String path, List<String> out) {
        if (!value.isObject()) {
            out.add(path + ": not an object");
            return;
        }
        schema.path("required").forEach(r -> {
            if (!value.has(r.asText())) {
                out.add(path + ": " + r.asText() + " is required");
            }
        });
        for (Iterator<Map.Entry<String, JsonNode>> fields = value.fields(); fields.hasNext(); ) {
            Map.Entry<String, JsonNode> field = fields.next();
            String at = path + "." + field.getKey();
            if (schema.path("properties").has(field.getKey())) {
                check(schema.get("properties").get(field.getKey()), field.getValue(), at, out);
            } else if (schema.get("additionalProperties") != null && schema.get("additionalProperties").isObject()) {
                check(schema.get("additionalProperties"), field.getValue(), at, out);
            } else if (!schema.path("x-kubernetes-preserve-unknown-fields").asBoolean()) {
                out.add(at + ": not a field of the schema");
            }
        }
    }

    private static void expect(boolean ok, String path, String type, List<String> out) {
        if (!ok) {
            out.add(path + ": not a " + type);
        }
    }

    private static boolean contains(JsonNode values, JsonNode value) {
        for (JsonNode v : values) {
            if (v.equals(value)) {
                return true;
            }
        }
        return false;
    }
}
