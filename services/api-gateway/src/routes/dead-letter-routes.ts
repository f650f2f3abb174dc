import { z } from 'zod';
import { readDeadLetter, readDeadLetters, removeDeadLetter, SOURCE, type Bus, type StoredDeadLetter } from '@terminusa/bus';
import { sendProblem } from '../http/problem.ts';
import { route, type RouteSpec } from '../http/route.ts';
import { replayOf } from './dead-letter-replay.ts';

const Seq = z.object({ seq: z.coerce.number().int().positive() });

/** A dead letter as the API answers it. */
const shown = ({ seq, source, storedAt, letter }: StoredDeadLetter) => ({ seq, source, storedAt, ...letter });

/**
 * The refused messages the DEADLETTER stream keeps (7 days), for operators: listed newest first, and one replayed
 * once what refused it is fixed (a limit raised, a release of the service that failed on it), published again to
 * the subject it came on (see replayOf) and removed from the dead letters, so it is not replayed twice.
 */
export function deadLetterRoutes(bus: Bus): RouteSpec[] {
  return [
    route({
      method: 'get',
      path: '/dead-letters',
      access: 'operator',
      tag: 'dead letters',
      summary: 'Refused messages with their reasons and raw bodies, newest first; `before` (the answer’s) pages back',
      query: z.object({
        limit: z.coerce.number().int().min(1).max(500).default(50),
        source: z.string().regex(SOURCE, 'a source: [A-Za-z0-9_-]{1,64}').optional(),
        before: z.coerce.number().int().positive().optional(),
      }),
      async handle({ query, res }) {
        const page = await readDeadLetters(bus, { limit: query.limit, ...(query.source ? { source: query.source } : {}), ...(query.before ? { before: query.before } : {}) });
        res.json({ letters: page.letters.map(shown), ...(page.before ? { before: page.before } : {}) });
      },
    }),
    route({
      method: 'get',
      path: '/dead-letters/:seq',
      access: 'operator',
      tag: 'dead letters',
      summary: 'One refused message',
      params: Seq,
      responses: { 404: 'not kept' },
      async handle({ params, res }) {
        const stored = await readDeadLetter(bus, params.seq);
        if (!stored) return sendProblem(res, 404, `no dead letter ${params.seq} is kept`);
        res.json(shown(stored));
      },
    }),
    route({
      method: 'post',
      path: '/dead-letters/:seq/replay',
      access: 'operator',
      tag: 'dead letters',
      summary: 'Publish a refused message again to the subject it came on, and remove it from the dead letters',
      audit: 'dead-letter-replay',
      params: Seq,
      responses: {
        202: 'published again (of a metric message, the refused samples only); the processor judges it as any message',
        404: 'not kept',
        409: 'cannot be replayed: its body was cut, it was not refused at intake, or replaying it could store something twice',
      },
      async handle({ params, res }) {
        const stored = await readDeadLetter(bus, params.seq);
        if (!stored) return sendProblem(res, 404, `no dead letter ${params.seq} is kept`);
        const replay = replayOf(stored.letter);
        if ('refused' in replay) return sendProblem(res, 409, `dead letter ${params.seq} cannot be replayed: ${replay.refused}`);
        // The id makes a replay asked twice at once one message; the removal after it, one replay at all.
        await bus.js.publish(bus.ns.subject(replay.subject), replay.body, { msgID: `replay:${bus.ns.stream('DEADLETTER')}:${params.seq}` });
        const removal = await removeDeadLetter(bus, params.seq);
        if (removal) return sendProblem(res, 500, `dead letter ${params.seq} was replayed to ${replay.subject} but could not be removed (${removal}): do not replay it again`);
        res.status(202).json({ seq: params.seq, subject: replay.subject });
      },
    }),
  ];
}
