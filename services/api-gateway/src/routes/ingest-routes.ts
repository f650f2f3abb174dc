import type { Request, Response } from 'express';
import getRawBody from 'raw-body';
import { SOURCE, type TagLimits } from '@terminusa/bus';
import type { Principal } from '../auth/principal.ts';
import { sendProblem } from '../http/problem.ts';
import { pushBackStatus } from '../http/rate-limit.ts';
import { route, type RouteSpec } from '../http/route.ts';
import type { IngestMetrics } from '../ingest/ingest-metrics.ts';
import { BadPayloadError, BodyTooLargeError, SampleBudget, type DecodedSamples, type DropReason } from '../ingest/decoded-samples.ts';
import { decodeRemoteWrite, snappyLength } from '../ingest/remote-write.ts';
import type { DecodingBudget, DecodingLease } from '../ingest/decoding-budget.ts';
import { decodeOtlpMetrics, type OtlpFormat } from '../ingest/otlp/decode-otlp.ts';
import { gunzipBody } from '../ingest/otlp/gunzip-body.ts';
import { ExportMetricsServiceResponseType } from '../ingest/otlp/otlp-proto.ts';
import type { PipelineBacklog } from '../ingest/pipeline-backlog.ts';
import { OTLP_METRICS_PATH, REMOTE_WRITE_PATH } from '../ingest/push-paths.ts';
import { PipelineBusyError, SamplePublisher } from '../ingest/sample-publisher.ts';

/** What the push endpoints need. */
export interface IngestRouteDeps {
  publisher: SamplePublisher;
  backlog: PipelineBacklog;
  metrics: IngestMetrics;
  maxRequestBytes: number;
  /** Most samples one request may make (ingest.maxSamplesPerRequest). */
  maxRequestSamples: number;
  /** The decompressed bytes decoded at once (ingest.maxDecodingBytes). */
  decoding: DecodingBudget;
  /** The processor's limits on a sample's tags: series and points beyond them are left out, counted, as it would refuse them. */
  tagLimits: TagLimits;
}

/** How long a sender pushed back for the gateway's decoding budget is asked to wait. */
const DECODING_RETRY_AFTER_S = 1;

/** How long a sender is asked to wait while the processor catches up. */
const BACKLOG_RETRY_AFTER_S = 5;

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
 * Answers 429 with Retry-After (503 on remote_write: {@link pushBackStatus}) and says so while the processor is
 * behind. Asked before the body is read: a sender pushed back retries the same request, and decoding it each time
 * would spend the CPU the pipeline is short of.
 */
async function pushedBack(deps: IngestRouteDeps, protocol: string, req: Request, res: Response): Promise<boolean> {
  const backlog = await deps.backlog.over();
  if (backlog === undefined) return false;
  const status = pushBackStatus(req.path);
  deps.metrics.refused(protocol, status);
  res.set('Retry-After', String(BACKLOG_RETRY_AFTER_S));
  sendProblem(res, status, `the pipeline is behind (${backlog} messages not yet processed); retry later`);
  return true;
}

/** Pushes a request back, 503 or 429 with Retry-After, while others hold the decoding budget: `what` it would hold. */
function decodingPushBack(deps: IngestRouteDeps, protocol: string, res: Response, others: number, what: string): void {
  const status = protocol === 'remote_write' ? pushBackStatus(REMOTE_WRITE_PATH) : pushBackStatus(OTLP_METRICS_PATH);
  deps.metrics.refused(protocol, status);
  res.set('Retry-After', String(DECODING_RETRY_AFTER_S));
  sendProblem(res, status, `this gateway is decoding ${others} bytes of other pushed requests, and this one's ${what} would pass ingest.maxDecodingBytes (${deps.decoding.bytes}); retry later`);
}

/**
 * Decodes a pushed request within the gateway's decoding budget (pushed back past it) and puts its samples into the
 * pipeline: `accepted` (204 unless told) once JetStream holds them, 400 naming what is wrong with a body no retry can
 * fix, 503 with Retry-After when JetStream did not take them (the sender retries, and the retry is not stored twice).
 */
async function takePush(
  deps: IngestRouteDeps,
  protocol: string,
  body: Uint8Array,
  decoded: { bytes: number; decode: (budget: SampleBudget) => DecodedSamples | Promise<DecodedSamples> },
  principal: Principal | undefined,
  res: Response,
  accepted: (res: Response, decoded: DecodedSamples) => void = (r) => void r.status(204).end(),
): Promise<void> {
  const lease = deps.decoding.take(decoded.bytes);
  if (!lease) return decodingPushBack(deps, protocol, res, deps.decoding.held, `${decoded.bytes} bytes`);
  try {
    await decodeAndPublish(deps, protocol, body, decoded, lease, principal, res, accepted);
  } finally {
    lease.release();
  }
}

async function decodeAndPublish(
  deps: IngestRouteDeps,
  protocol: string,
  body: Uint8Array,
  { bytes, decode }: { bytes: number; decode: (budget: SampleBudget) => DecodedSamples | Promise<DecodedSamples> },
  lease: DecodingLease,
  principal: Principal | undefined,
  res: Response,
  accepted: (res: Response, decoded: DecodedSamples) => void,
): Promise<void> {
  let decoded: DecodedSamples;
  const budget = new SampleBudget(deps.maxRequestSamples);
  try {
    decoded = await decode(budget);
  } catch (err) {
    if (!(err instanceof BadPayloadError || err instanceof BodyTooLargeError)) throw err;
    const status = err instanceof BodyTooLargeError ? 413 : 400;
    deps.metrics.refused(protocol, status);
    return sendProblem(res, status, err.message);
  }
  // Its messages write each series' tags once per sample, which its decompressed bytes held so far do not count:
  // held too while it publishes, or many small bodies of long labels would be gigabytes of messages at once.
  if (!lease.grow(Math.max(0, budget.tagBytes - bytes))) {
    return decodingPushBack(deps, protocol, res, deps.decoding.held - bytes, `${budget.tagBytes} bytes of tags written out once per sample`);
  }
  for (const [reason, n] of Object.entries(decoded.dropped)) deps.metrics.dropped(protocol, reason as DropReason, n);
  const source = sourceOf(principal, protocol);
  try {
    await deps.publisher.publish(source, decoded.samples, SamplePublisher.requestId(protocol, source, body));
  } catch (err) {
    if (err instanceof BadPayloadError) {
      deps.metrics.refused(protocol, 400);
      return sendProblem(res, 400, err.message);
    }
    if (!(err instanceof PipelineBusyError)) throw err;
    deps.metrics.refused(protocol, 503);
    res.set('Retry-After', String(err.retryAfterSeconds));
    return sendProblem(res, 503, err.message);
  }
  deps.metrics.accepted(protocol, decoded.samples.length);
  accepted(res, decoded);
}

/**
 * The message a remote-write request's Content-Type names when it is not 1.0's `prometheus.WriteRequest` (which a
 * bare `application/x-protobuf`, as 1.0 senders send, or none also mean); undefined for 1.0.
 */
export function remoteWriteMessage(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const [type, ...params] = contentType.split(';').map((p) => p.trim());
  if (type!.toLowerCase() !== 'application/x-protobuf') return contentType;
  const proto = params.find((p) => p.toLowerCase().startsWith('proto='))?.slice('proto='.length).replace(/^"|"$/g, '');
  return proto === undefined || proto === 'prometheus.WriteRequest' ? undefined : proto;
}

/** OTLP/HTTP's encoding of a request by its Content-Type (parameters such as charset aside); undefined for others. */
function otlpFormat(contentType: string | undefined): OtlpFormat | undefined {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/x-protobuf' ? 'protobuf' : type === 'application/json' ? 'json' : undefined;
}

/**
 * OTLP's answer to a taken export, in the request's encoding: an empty `ExportMetricsServiceResponse`, or one whose
 * `partial_success` counts the points left out and says why, which the SDKs and the collector log for their owner.
 */
function otlpAccepted(format: OtlpFormat): (res: Response, decoded: DecodedSamples) => void {
  return (res, decoded) => {
    const rejected = decoded.rejectedPoints ?? 0;
    const reasons = Object.entries(decoded.dropped).map(([reason, n]) => `${reason} ${n}`).join(', ');
    const partialSuccess = rejected > 0 ? { rejectedDataPoints: rejected, errorMessage: `${rejected} data points not stored in full (samples left out: ${reasons}); see docs/otlp.md` } : undefined;
    if (format === 'json') return void res.status(200).json(partialSuccess ? { partialSuccess: { ...partialSuccess, rejectedDataPoints: String(rejected) } } : {});
    const message = ExportMetricsServiceResponseType.fromObject(partialSuccess ? { partialSuccess } : {});
    res.status(200).type('application/x-protobuf').end(Buffer.from(ExportMetricsServiceResponseType.encode(message).finish()));
  };
}

/** The push endpoints of the Prometheus and OpenTelemetry protocols, for the `producer` role and up. */
export function ingestRoutes(deps: IngestRouteDeps): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: REMOTE_WRITE_PATH,
      access: 'producer',
      tag: 'ingest',
      summary: 'Prometheus remote_write 1.0 receiver (protobuf, snappy): samples into the same pipeline as every other sample',
      responses: { 204: 'accepted: stored by JetStream', 413: 'body too large, or it makes too many samples, or too many bytes of tags written out once per sample', 415: 'a message other than remote-write 1.0 (a 2.0 `io.prometheus.write.v2.Request`), or an encoding other than snappy', 503: 'not taken now (the pipeline behind, a rate limit, JetStream): retry after Retry-After; never 429, which remote-write senders may drop' },
      async handle({ req, res, principal }) {
        // A remote-write 2.0 body decodes as an empty 1.0 one (its fields are others): answered 204 it was lost.
        const message = remoteWriteMessage(req.get('content-type'));
        if (message !== undefined) {
          deps.metrics.refused('remote_write', 415);
          return sendProblem(res, 415, `only remote-write 1.0 (prometheus.WriteRequest) is taken, got ${message}: set the sender's protobuf_message to prometheus.WriteRequest`, { title: 'Unsupported Media Type' });
        }
        // Remote-write 1.0 bodies are snappy whether or not the header says so, as Prometheus' own receiver takes them.
        const encoding = (req.get('content-encoding') ?? 'snappy').toLowerCase();
        if (encoding !== 'snappy') {
          deps.metrics.refused('remote_write', 415);
          return sendProblem(res, 415, `Content-Encoding must be snappy (remote-write 1.0), got ${encoding}`, { title: 'Unsupported Media Type' });
        }
        if (await pushedBack(deps, 'remote_write', req, res)) return;
        const body = await rawBody(req, res, deps.maxRequestBytes);
        if (!body) return;
        // Counted at the size it declares decompressed (refused by the decoder when that is more than it takes).
        const bytes = Math.min(snappyLength(body) ?? body.length, deps.maxRequestBytes);
        await takePush(deps, 'remote_write', body, { bytes, decode: (budget) => decodeRemoteWrite(body, deps.maxRequestBytes, budget, deps.tagLimits) }, principal, res);
      },
    }),
    route({
      method: 'post',
      path: OTLP_METRICS_PATH,
      access: 'producer',
      tag: 'ingest',
      summary: 'OpenTelemetry OTLP/HTTP metrics receiver (protobuf or JSON, gzip or not): samples into the same pipeline as every other sample',
      responses: {
        200: 'accepted: stored by JetStream (an ExportMetricsServiceResponse, with partial_success when points were left out)',
        413: 'body too large, compressed or decompressed, or it makes too many samples, or too many bytes of tags written out once per sample',
        415: 'neither application/x-protobuf nor application/json, or a Content-Encoding other than gzip',
        503: 'the pipeline did not take it; retry after Retry-After',
      },
      async handle({ req, res, principal }) {
        const format = otlpFormat(req.get('content-type'));
        const encoding = (req.get('content-encoding') ?? 'identity').trim().toLowerCase();
        if (!format || (encoding !== 'gzip' && encoding !== 'identity')) {
          deps.metrics.refused('otlp', 415);
          const detail = !format ? `Content-Type must be application/x-protobuf or application/json, got ${req.get('content-type') || 'none'}` : `Content-Encoding must be gzip or none, got ${encoding}`;
          return sendProblem(res, 415, detail, { title: 'Unsupported Media Type' });
        }
        if (await pushedBack(deps, 'otlp', req, res)) return;
        const raw = await rawBody(req, res, deps.maxRequestBytes);
        if (!raw) return;
        let body: Uint8Array = raw;
        try {
          if (encoding === 'gzip') body = await gunzipBody(raw, deps.maxRequestBytes);
        } catch (err) {
          if (!(err instanceof BadPayloadError || err instanceof BodyTooLargeError)) throw err;
          const status = err instanceof BodyTooLargeError ? 413 : 400;
          deps.metrics.refused('otlp', status);
          return sendProblem(res, status, err.message);
        }
        // The digest is of the decompressed request, so a retry is known whether or not it is compressed alike.
        await takePush(deps, 'otlp', body, { bytes: body.length, decode: (budget) => decodeOtlpMetrics(body, format, budget, deps.tagLimits) }, principal, res, otlpAccepted(format));
      },
    }),
  ];
}
