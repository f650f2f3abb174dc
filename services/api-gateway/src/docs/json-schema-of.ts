import { z } from 'zod';

/** A JSON Schema (2020-12, the dialect of OpenAPI 3.1) as plain data. */
export type JsonSchema = Record<string, unknown>;

// `io: 'input'` describes what a client sends (before transforms and defaults); transforms, refinements and
// custom types that JSON Schema cannot express become `{}` instead of an error.
const OPTIONS = { target: 'draft-2020-12', io: 'input', unrepresentable: 'any', cycles: 'ref', reused: 'inline' } as const;

const COMPONENT_REF = '#/components/schemas/';

/**
 * The JSON Schema of a zod schema for use inside an OpenAPI document: definitions zod puts in `$defs` (cycles,
 * registered ids) move into `components` as `<name>.<def>`, so every `$ref` resolves in the document.
 * A schema zod still cannot convert yields an unconstrained schema that says why, so one route never breaks the document.
 */
export function jsonSchemaOf(schema: z.ZodType, name: string, components: Record<string, JsonSchema>): JsonSchema {
  let converted: JsonSchema;
  try {
    converted = z.toJSONSchema(schema, OPTIONS) as JsonSchema;
  } catch (err) {
    return { description: `not representable as JSON Schema: ${(err as Error).message}` };
  }
  const { $defs, ...root } = converted;
  delete root.$schema;
  let selfReferenced = false;
  const rewrite = (ref: string): string => {
    if (ref === '#') {
      selfReferenced = true;
      return COMPONENT_REF + name;
    }
    return ref.startsWith('#/$defs/') ? `${COMPONENT_REF}${name}.${ref.slice('#/$defs/'.length)}` : ref;
  };
  for (const [key, def] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) components[`${name}.${key}`] = rewriteRefs(def, rewrite) as JsonSchema;
  const result = rewriteRefs(root, rewrite) as JsonSchema;
  if (!selfReferenced) return result;
  components[name] = result;
  return { $ref: COMPONENT_REF + name };
}

function rewriteRefs(value: unknown, rewrite: (ref: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteRefs(v, rewrite));
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? rewrite(v) : rewriteRefs(v, rewrite)]));
}
