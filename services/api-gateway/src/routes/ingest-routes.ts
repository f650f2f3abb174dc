import type { Request, Response } from 'express';
import getRawBody from 'raw-body';
import { SOURCE } from '@terminusa/bus';
import type { Principal } from '../auth/principal.ts';
import { sendProblem } from '../http/problem.ts';
import { route, type RouteSpec } from '../http/route.ts';
import type { IngestMetrics } from '../ingest/ingest-metrics.ts';
import { BadPayloadError, decodeRemoteWrite, type DecodedSamples, type DropReason } from '../ingest/remote-write.ts';
import { PipelineBusyError, SamplePublisher } from '../ingest/sample-publisher.ts';

/** What the push endpoints need. */
export interface IngestRouteDeps {
  publisher: SamplePublisher;
  metrics: IngestMetrics;
  maxRequestBytes: number;
}

/** The source subject token of a principal's samples: an API key's name where it is one token, else the protocol. */
function sourceOf(principal: Principal | undefined, protocol: string): string {
  const name = principal?.subject ?? '';
  return SOURCE.test(name) ? name : protocol;
}

/** The raw request body, up to `limit` bytes; undefined after answering 413 when it is larger. */
async function rawBody(req: Request, res: Response, limit: number): Promise<Buffer | undefined> {
  try {
    return await getRawBody(req, { limit });
  } catch (err) {
    if ((err as { type?: string }).type === 'entity.too.large') {
      sendProblem(res, 413, `the body is larger than the ${limit} bytes taken`);
      return undefined;
    }
    throw err;
  }
}

/**
 * Decodes a pushed request and puts its samples into the pipeline: 204 once JetStream holds them, 400 naming what
 * is wrong with a body no retry can fix, 503 with Retry-After when the pipeline did not take them (the sender
 * retries, and the retry is not stored twice).
 */
async function takePush(deps: IngestRouteDeps, protocol: string, body: Uint8Array, decode: () => DecodedSamples, principal: Principal | undefined, res: Response): Promise<void> {
  let decoded: DecodedSamples;
  try {
    decoded = decode();
  } catch (err) {
    if (!(err instanceof BadPayloadError)) throw err;
    deps.metrics.refused(protocol, 400);
    return sendProblem(res, 400, err.message);
  }
  for (const [reason, n] of Object.entries(decoded.dropped)) deps.metrics.dropped(protocol, reason as DropReason, n);
  const source = sourceOf(principal, protocol);
  try {
    await deps.publisher.publish(source, decoded.samples, SamplePublisher.requestId(protocol, source, body));
  } catch (err) {
    if (!(err instanceof PipelineBusyError)) throw err;
    deps.metrics.refused(protocol, 503);
    res.set('Retry-After', String(err.retryAfterSeconds));
    return sendProblem(res, 503, err.message);
  }
  deps.metrics.accepted(protocol, decoded.samples.length);
  res.status(204).end();
}

/** The push endpoints of the Prometheus and OpenTelemetry protocols, for the `producer` role and up. */
export function ingestRoutes(deps: IngestRouteDeps): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: '/api/v1/write',
      access: 'producer',
      tag: 'ingest',
      summary: 'Prometheus remote_write 1.0 receiver (protobuf, snappy): samples into the same pipeline as every other sample',
      responses: { 204: 'accepted: stored by JetStream', 413: 'body too large', 503: 'the pipeline did not take it; retry after Retry-After' },
      async handle({ req, res, principal }) {
        const encoding = (req.get('content-encoding') ?? '').toLowerCase();
        if (encoding !== 'snappy') {
          deps.metrics.refused('remote_write', 400);
          return sendProblem(res, 400, `Content-Encoding must be snappy (remote-write 1.0), got ${encoding || 'none'}`);
        }
        const body = await rawBody(req, res, deps.maxRequestBytes);
        if (!body) return;
        await takePush(deps, 'remote_write', body, () => decodeRemoteWrite(body, deps.maxRequestBytes), principal, res);
      },
    }),
  ];
}
