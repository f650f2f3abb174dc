import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '@terminusa/bus';
import { replayOf } from './dead-letter-replay.ts';

const RECEIVED_AT = 1_767_225_600_000;
const letter = (subject: string, raw: string, extra: Partial<DeadLetter> = {}): DeadLetter => ({
  subject,
  receivedAt: RECEIVED_AT,
  rejections: [{ field: '(message)', reason: 'malformed JSON' }],
  accepted: 0,
  raw,
  rawEncoding: 'utf8',
  ...extra,
});
const body = (replay: ReturnType<typeof replayOf>) => ('body' in replay ? JSON.parse(Buffer.from(replay.body).toString()) : replay);

describe('a dead letter’s replay', () => {
  it('sends of a metric message only the refused samples, those without a ts dated when the stream first took them', () => {
    const raw = JSON.stringify({ samples: [{ name: 'ok', value: 1 }, { name: 'big', value: 2, tags: { zone: 'x'.repeat(300) } }, { name: 'ok', value: 3, ts: 5 }, { name: 'late', value: 4, ts: 7 }] });
    const partly = letter('metrics.ingest.game', raw, {
      accepted: 2,
      rejections: [
        { index: 1, field: 'samples[1].tags.zone', reason: 'tag values are at most 256 characters' },
        { index: 3, field: 'samples[3].ts', reason: 'too old' },
      ],
    });
    expect(body(replayOf(partly))).toEqual({ samples: [{ name: 'big', value: 2, tags: { zone: 'x'.repeat(300) }, ts: RECEIVED_AT }, { name: 'late', value: 4, ts: 7 }] });
    const whole = letter('metrics.ingest.game', JSON.stringify({ samples: [{ name: 'a', value: 1 }] }), { handlingFailures: 5 });
    expect(body(replayOf(whole))).toEqual({ samples: [{ name: 'a', value: 1, ts: RECEIVED_AT }] });
  });

  it('sends a body that is not JSON as it was, when nothing of it was taken', () => {
    const replay = replayOf(letter('metrics.ingest.game', '{"samples": ['));
    expect('body' in replay && Buffer.from(replay.body).toString()).toBe('{"samples": [');
    const packed = replayOf(letter('metrics.ingest.rw', 'AAEC', { rawEncoding: 'base64' }));
    expect('body' in packed && [...packed.body]).toEqual([0, 1, 2]);
  });

  it('dates an event refused at intake, and refuses one the processor failed on, which may have been counted', () => {
    expect(body(replayOf(letter('events.game.kill', '{"value":1}')))).toEqual({ value: 1, ts: RECEIVED_AT });
    expect(body(replayOf(letter('events.game.kill', '{"value":1,"ts":9}')))).toEqual({ value: 1, ts: 9 });
    expect(replayOf(letter('events.game.kill', '{"value":1}', { handlingFailures: 5 }))).toEqual({ refused: expect.stringMatching(/counted already/) });
    // events_value_total counted, events_total refused by the cardinality guard: a replay counted the value again.
    expect(replayOf(letter('events.game.kill', '{"value":5,"tags":{"k":"4"}}', { accepted: 1 }))).toEqual({ refused: expect.stringMatching(/counted twice/) });
  });

  it('refuses what could be stored twice or was never a producer’s: a cut body, unlisted refusals beside accepted samples, a SAMPLES batch', () => {
    expect(replayOf(letter('metrics.ingest.game', '{"samples":[', { rawBytesNotKept: 10 }))).toEqual({ refused: expect.stringMatching(/10 bytes were cut/) });
    const unlisted = letter('metrics.ingest.game', JSON.stringify({ samples: [{ name: 'a', value: 1 }, { name: 'b', value: 1 }] }), {
      accepted: 1,
      rejections: [{ index: 1, field: 'samples[1].value', reason: 'x' }],
      rejectionsNotListed: 4,
    });
    expect(replayOf(unlisted)).toEqual({ refused: expect.stringMatching(/not every refused one is listed/) });
    expect(replayOf(letter('metrics.ingest.rw', 'AAEC', { rawEncoding: 'base64', accepted: 3 }))).toEqual({ refused: expect.stringMatching(/can be picked out/) });
    expect(replayOf(letter('metrics.samples', 'AAEC', { rawEncoding: 'base64' }))).toEqual({ refused: expect.stringMatching(/came on metrics.samples/) });
  });
});
