import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { DeadLetterSchema, SUBJECTS } from '@terminusa/bus';
import { waitFor, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { runService, startConsumer } from './index.ts';

let ns: TestNamespace;
let nc: NatsConnection;

useTestNamespace((opened) => (ns = opened), { ops: { port: 0, host: '127.0.0.1' }, shutdownTimeout: 1, core: { deadLetterAfter: 2 } });
beforeAll(async () => {
  nc = await connect({ servers: ns.config.nats.url });
});
afterAll(async () => {
  await nc.close();
});

describe('startConsumer', () => {
  it('dead-letters a message its handler keeps failing on alone, under its source with its raw body and the error', async () => {
    const stored: string[] = [];
    let dependencyFailures = 0;
    const service = await runService(
      {
        name: 'processor',
        description: 'test service',
        start: async (ctx) => {
          await startConsumer(
            ctx,
            'processor',
            async (msgs) => {
              const bodies = msgs.map((m) => new TextDecoder().decode(m.data));
              // A dependency failing on it counts for nothing; the program tripping over it does.
              if (bodies.some((b) => b.includes('redis-down'))) {
                dependencyFailures++;
                throw Object.assign(new Error('Connection is closed.'), { name: 'MaxRetriesPerRequestError' });
              }
              if (bodies.some((b) => b.includes('poison'))) throw new TypeError('column "x" cannot hold this');
              stored.push(...bodies);
            },
            { maxBatch: 10, lingerMs: 20, retryDelayMs: 50, onError: () => undefined },
          );
        },
      },
      { config: ns.config, handleSignals: false },
    );
    try {
      const { bus } = service.context;
      const js = nc.jetstream();
      for (const body of ['{"good":1}', '{"poison":true}', '{"good":2}']) await js.publish(bus.subject(SUBJECTS.ingest, 'game-a'), new TextEncoder().encode(body));
      const jsm = await nc.jetstreamManager();
      const stream = bus.ns.stream('DEADLETTER');
      // Its failures count while other messages are handled between them: a trickle of good ones, as a fleet sends.
      let trickle = 0;
      const more = () => js.publish(bus.subject(SUBJECTS.ingest, 'game-a'), new TextEncoder().encode(`{"later":${trickle++}}`));
      const letter = await waitFor(async () => {
        const info = await jsm.streams.info(stream).catch(() => undefined);
        if (!info || info.state.messages === 0) return void (await more());
        return jsm.streams.getMessage(stream, { seq: info.state.first_seq });
      }, 30_000, 'the dead letter', 100);
      // A message a dependency keeps failing on is tried well past deadLetterAfter, others handled between: kept.
      await js.publish(bus.subject(SUBJECTS.ingest, 'game-a'), new TextEncoder().encode('{"redis-down":1}'));
      await waitFor(async () => (dependencyFailures >= 8 ? true : void (await more())), 30_000, 'the dependency\'s failures', 100);
      expect((await jsm.streams.info(stream)).state.messages).toBe(1);
      expect(letter.subject).toBe(bus.subject(SUBJECTS.deadLetter, 'game-a'));
      const body = DeadLetterSchema.parse(letter.json());
      expect(body).toMatchObject({ subject: 'metrics.ingest.game-a', raw: '{"poison":true}', rawEncoding: 'utf8', accepted: 0, handlingFailures: 2 });
      expect(body.receivedAt).toBeGreaterThan(Date.now() - 60_000);
      expect(body.rejections).toEqual([{ field: '(message)', reason: expect.stringMatching(/^handling failed 2 times on this message alone.*: column "x" cannot hold this$/) }]);
      expect(stored.filter((b) => b.startsWith('{"good"')).sort()).toEqual(['{"good":1}', '{"good":2}']);
    } finally {
      await service.stop();
    }
  });
});
