import { GameEventSchema, SOURCE } from '@terminusa/bus';
import { refuse, refuseIssues, type Stage } from './stage.ts';
import type { IngestLimits } from './ingest-limits.ts';
import { decodeBody } from './decode-body.ts';
import { tagsSchema } from './tags-schema.ts';
import { timestampProblem } from './check-timestamps.ts';

const EVENT_SUBJECT = /^events\.([^.]+)\.([^.]+)$/;
const EVENT_TYPE = /^[A-Za-z0-9_-]{1,64}$/;
/** Tags the counters take from the subject; an event may not set them itself. */
const EVENT_SUBJECT_TAGS = ['source', 'type'] as const;

/** Checks an event's subject (`events.<source>.<type>`), size, JSON, body and timestamp; refuses the event if any is wrong. */
export function parseEvent(limits: IngestLimits): Stage {
  const schema = GameEventSchema.extend({ tags: tagsSchema(limits).optional() });
  return (work) => {
    const [, source, type] = EVENT_SUBJECT.exec(work.subject) ?? [];
    if (!source || !type || !SOURCE.test(source) || !EVENT_TYPE.test(type)) {
      return refuse(work, 'subject', `unknown subject ${work.subject}: publish to events.<source>.<type>, source and type one token each of [A-Za-z0-9_-]{1,64}`);
    }
    work.source = source;
    const body = decodeBody(work, limits.maxMessageBytes);
    if (!body.ok) return;
    const event = schema.safeParse(body.value);
    if (!event.success) return refuseIssues(work, event.error);
    const reserved = EVENT_SUBJECT_TAGS.find((key) => event.data.tags?.[key] !== undefined);
    if (reserved) return refuse(work, `tags.${reserved}`, `the tag ${reserved} is taken from the subject events.<source>.<type>; an event may not set it`);
    const problem = event.data.ts === undefined ? undefined : timestampProblem(event.data.ts, work.receivedAt, limits);
    if (problem) return refuse(work, 'ts', problem);
    work.event = { type, body: event.data };
  };
}
