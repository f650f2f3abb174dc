import { describe, expect, it } from 'vitest';
import { CliError } from './errors.ts';
import { followJob, type Job } from './follow-job.ts';
import type { GatewayClient } from './gateway-client.ts';

/** A client whose `GET /backups/jobs/{id}` answers the given states in turn. */
function jobsAnswering(states: Partial<Job>[]): { client: GatewayClient; polls: () => number } {
  let i = 0;
  const client = { get: async () => ({ jobId: 'j1', name: 'backup', progress: 0, result: null, ...states[Math.min(i++, states.length - 1)] }) };
  return { client: client as unknown as GatewayClient, polls: () => i };
}

describe('followJob', () => {
  it('polls until the job completes and returns it', async () => {
    const { client, polls } = jobsAnswering([{ state: 'waiting' }, { state: 'active' }, { state: 'completed', result: { id: 'b1' } }]);
    const job = await followJob(client, 'j1', { label: 'backup', bar: false, pollMs: 1 });
    expect(job).toMatchObject({ state: 'completed', result: { id: 'b1' } });
    expect(polls()).toBe(3);
  });

  it('throws the failure reason of a failed job', async () => {
    const { client } = jobsAnswering([{ state: 'active' }, { state: 'failed', failedReason: 'disk full' }]);
    const failed = followJob(client, 'j1', { label: 'restore b1', bar: false, pollMs: 1 });
    await expect(failed).rejects.toBeInstanceOf(CliError);
    await expect(followJob(jobsAnswering([{ state: 'failed', failedReason: 'disk full' }]).client, 'j1', { label: 'restore b1', bar: false })).rejects.toThrow('restore b1 failed: disk full');
  });
});
