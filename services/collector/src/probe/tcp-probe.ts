import { connect } from 'node:net';
import type { Config } from '@terminusa/config';
import type { ProbeReport } from './probe-report.ts';

/** A configured TCP probe. */
export type TcpProbe = Extract<Config['collection']['probes'][number], { kind: 'tcp' }>;

/** Opens a TCP connection to the probe's host and port within `timeoutMs`; records `probe_success` and `probe_duration_seconds`. */
export async function runTcpProbe(probe: TcpProbe, options: { timeoutMs: number; tags: Record<string, string> }): Promise<ProbeReport> {
  const ts = Date.now();
  const started = performance.now();
  const error = await new Promise<string | undefined>((resolve) => {
    const socket = connect({ host: probe.host, port: probe.port });
    const timer = setTimeout(() => socket.destroy(new Error(`timed out after ${options.timeoutMs} ms`)), options.timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
  const seconds = (performance.now() - started) / 1000;
  const tags = options.tags;
  return {
    success: error === undefined,
    samples: [
      { name: 'probe_success', value: error === undefined ? 1 : 0, ts, tags },
      { name: 'probe_duration_seconds', value: seconds, ts, tags },
    ],
    ...(error ? { error } : {}),
  };
}
