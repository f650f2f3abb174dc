import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { redisOptions } from '@terminusa/runtime';
import { type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { syncSchedulers, type SchedulerSpec } from './job-schedulers.ts';

let ns: TestNamespace;
let queue: Queue;

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  queue = new Queue('collector-test', { connection: redisOptions(ns.config, 'blocking'), prefix: `${ns.config.redis.prefix}bull` });
});
afterAll(async () => {
  await queue?.close();
});

const spec: SchedulerSpec = { id: 'scrape:alpha', everyMs: 1000, job: { name: 'scrape', data: { target: { job: 'alpha', url: 'http://127.0.0.1:9/metrics', healthUrl: 'http://127.0.0.1:9/', tags: {} } } } };

describe('syncSchedulers', () => {
  it('leaves a scheduler whose job waits in a backlog where it is, and starts again only one whose chain broke off', async () => {
    expect((await syncSchedulers(queue, [spec])).added).toEqual(['scrape:alpha']);
    const [scheduler] = await queue.getJobSchedulers(0, -1);
    const next = scheduler!.next!;
    // Long overdue, but its job is queued (workers behind): not restarted, which would put it at the back of the queue.
    const late = next + 10 * spec.everyMs;
    expect(await syncSchedulers(queue, [spec], late)).toEqual({ added: [], updated: [], removed: [], restarted: [] });
    expect((await queue.getJobSchedulers(0, -1))[0]!.next).toBe(next);
    // Its job gone (failed after its worker died on it, then cleaned away): the chain broke off, and it is started
    // again. BullMQ refuses to remove a scheduler's job, so it is taken out of Redis as the cleaning would.
    const jobId = `repeat:scrape:alpha:${next}`;
    const keys = `${ns.config.redis.prefix}bull:collector-test`;
    const redis = ns.redis();
    await redis.zrem(`${keys}:delayed`, jobId);
    await redis.del(`${keys}:${jobId}`);
    expect(await queue.getJob(jobId)).toBeUndefined();
    expect((await syncSchedulers(queue, [spec], late)).restarted).toEqual(['scrape:alpha']);
  });
});
