import { describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { useTestBus } from '@terminusa/testkit';
import { decodeSampleBatch, persistSamples, SampleTooLargeError, type Bus, type IngestSample } from './index.ts';

let nc: NatsConnection;
let bus: Bus;

useTestBus((opened) => ({ nc, bus } = opened));

/** Every INGEST message of `source`, in order: its bytes and id. */
async function ingestMessages(source: string): Promise<{ bytes: number; id: string; samples: number }[]> {
  const jsm = await nc.jetstreamManager();
  const stream = bus.ns.stream('INGEST');
  const out: { bytes: number; id: string; samples: number }[] = [];
  const { state } = await jsm.streams.info(stream);
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const msg = await jsm.streams.getMessage(stream, { seq });
    if (!msg.subject.endsWith(`.${source}`)) continue;
    const [part] = decodeSampleBatch(msg.data).parts;
    out.push({ bytes: msg.data.length, id: msg.header.get('Nats-Msg-Id'), samples: part!.samples.length });
  }
  return out;
}

/** A sample whose labels take about `labelBytes` bytes (cAdvisor-like series). */
const wide = (i: number, labelBytes: number): IngestSample => ({ name: 'container_memory_usage_bytes', value: i, ts: 1_700_000_000_000 + i, tags: { id: `/kubepods/${'x'.repeat(labelBytes)}/${i}` } });

describe('persistSamples', () => {
  it('keeps each message within the byte limit as well as the sample limit, every sample once, the ids in order', async () => {
    const samples = Array.from({ length: 1000 }, (_, i) => wide(i, 1000));
    await persistSamples(bus, 'wide', samples, { samples: 1000, bytes: 64 * 1024 }, 'req:1');
    const messages = await ingestMessages('wide');
    // About 1 KB a sample: a thousand of them need 16 or more messages of 64 KiB.
    expect(messages.length).toBeGreaterThanOrEqual(16);
    for (const m of messages) expect(m.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(messages.reduce((n, m) => n + m.samples, 0)).toBe(1000);
    expect(messages.map((m) => m.id)).toEqual(messages.map((_, i) => `req:1:${i}`));

    // The same request again gives the same messages, which JetStream stores once.
    await persistSamples(bus, 'wide', samples, { samples: 1000, bytes: 64 * 1024 }, 'req:1');
    expect(await ingestMessages('wide')).toEqual(messages);
  });

  it('publishes nothing of a request with a sample too large for any message', async () => {
    const samples = [wide(1, 10), wide(2, 100 * 1024), wide(3, 10)];
    await expect(persistSamples(bus, 'huge', samples, { samples: 1000, bytes: 64 * 1024 }, 'req:2')).rejects.toThrow(SampleTooLargeError);
    expect(await ingestMessages('huge')).toEqual([]);
  });
});
