import type { Stage } from './stage.ts';

/** Fills the defaults: a missing timestamp is the time the stream received the message; missing tags are empty; tags sorted. */
export const normalize: Stage = (work) => {
  work.samples = (work.valid ?? []).map(({ sample }) => {
    const tags: Record<string, string> = {};
    for (const key of Object.keys(sample.tags ?? {}).sort()) tags[key] = sample.tags![key]!;
    return { name: sample.name, value: sample.value, ts: sample.ts ?? work.receivedAt, tags };
  });
};
