import { pipeline, type Stage } from './stage.ts';
import { parseEnvelope, type EnvelopeLimits } from './parse-envelope.ts';
import { validateSamples } from './validate-samples.ts';
import { normalize } from './normalize.ts';

export type { IngestWork, Stage } from './stage.ts';
export type { EnvelopeLimits } from './parse-envelope.ts';

/** The processor's pipeline, assembled in one place: envelope → per-sample validation → normalization. */
export function ingestPipeline(limits: EnvelopeLimits): Stage {
  return pipeline(parseEnvelope(limits), validateSamples, normalize);
}
