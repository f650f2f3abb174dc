import { durationMs, type Config } from '@terminusa/config';
import { EngineAnswerTooLarge, type VictoriaMetrics } from '@terminusa/metric-store';
import type { EngineSlots } from './engine-slots.ts';
import { engineFailure, PrometheusError } from './prometheus-errors.ts';
import { durationParam, engineSeconds } from './prometheus-params.ts';

/** `gateway.promql` in the units the code works in. */
export interface PromqlLimits {
  timeoutMs: number;
  maxPoints: number;
  maxSamples: number;
}

/** The limits of `gateway.promql`, read once when the routes are built. */
export function promqlLimits(settings: Readonly<Config['gateway']['promql']>): PromqlLimits {
  return { timeoutMs: durationMs(settings.timeout), maxPoints: settings.maxPoints, maxSamples: settings.maxSamples };
}

/**
 * Bytes one sample may take in the engine's JSON (`[1796228678.123,"-1.2345678901234567e+308"],` and a share of its
 * series' labels), rounded up: the gateway reads at most maxSamples of them, so no answer it would refuse is held whole.
 */
const BYTES_PER_SAMPLE = 64;

/** What a forwarded call needs: the engine, the limits, and the caller hanging up. */
export interface PrometheusContext {
  engine: Pick<VictoriaMetrics, 'prometheusApi' | 'promql'>;
  limits: PromqlLimits;
  /** The gateway's share of the engine's searches (gateway.promql.maxConcurrent). */
  slots: EngineSlots;
  /** Aborts when the caller goes away, so the engine stops working for no one. */
  signal: AbortSignal;
}

/** The body of a successful Prometheus API answer. */
export interface PrometheusSuccess<T> {
  status: 'success';
  data: T;
  warnings?: string[];
}

/** Prometheus' words for a query past its sample limit, with the setting that set it. */
export function tooManySamples(limits: PromqlLimits, detail: string): PrometheusError {
  return new PrometheusError('execution', `query processing would load too many samples into memory in query execution: ${detail} (gateway.promql.maxSamples=${limits.maxSamples})`);
}

/** A successful answer of the engine: as the text it came in, and parsed (on first use). */
export interface EngineSuccess<T> {
  readonly text: string;
  readonly body: PrometheusSuccess<T>;
}

/** How the engine begins every successful answer, which tells one without parsing it. */
const SUCCESS_START = '{"status":"success"';

/** {@link callEngineAnswer}'s parsed body alone. */
export async function callEngine<T>(ctx: PrometheusContext, path: string, params: URLSearchParams, form: URLSearchParams, blamed = 'query'): Promise<PrometheusSuccess<T>> {
  return (await callEngineAnswer<T>(ctx, path, params, form, blamed)).body;
}

/**
 * Calls the engine's `path` with `params` and returns its success answer; every failure as a PrometheusError. The call
 * gets the configured timeout, or the request's own `timeout` when shorter: passed to the engine, which stops
 * there, and enforced here as well, since the engine checks its deadline only now and then while it searches.
 */
export async function callEngineAnswer<T>(ctx: PrometheusContext, path: string, params: URLSearchParams, form: URLSearchParams, blamed = 'query'): Promise<EngineSuccess<T>> {
  // Whole milliseconds: AbortSignal.timeout throws on a fraction (`timeout=1.001` was a 500).
  const timeoutMs = Math.floor(Math.max(0, Math.min(ctx.limits.timeoutMs, durationParam(form, 'timeout') ?? Number.POSITIVE_INFINITY)));
  params.set('timeout', engineSeconds(timeoutMs));
  const timeout = AbortSignal.timeout(timeoutMs);
  const timedOut = () => new PrometheusError('timeout', `query timed out in expression evaluation: it ran longer than ${timeoutMs} ms`);
  const started = performance.now();
  const signal = AbortSignal.any([timeout, ctx.signal]);
  let answer: Awaited<ReturnType<VictoriaMetrics['prometheusApi']>>;
  // Its time waiting for a slot counts against its timeout, as time queued in Prometheus' engine does.
  const release = await ctx.slots.acquire(signal).catch(() => {
    throw timeout.aborted ? timedOut() : new PrometheusError('unavailable', 'the request was cancelled while it waited for the engine');
  });
  try {
    answer = await ctx.engine.prometheusApi(path, params, { signal, maxBytes: ctx.limits.maxSamples * BYTES_PER_SAMPLE });
  } catch (err) {
    if (err instanceof EngineAnswerTooLarge) {
      const bytes = ctx.limits.maxSamples * BYTES_PER_SAMPLE;
      // Series and label lists hold no samples: said as the answer's size, with what to narrow.
      if (blamed !== 'query') throw new PrometheusError('execution', `the answer is larger than ${bytes} bytes (${BYTES_PER_SAMPLE} for each of gateway.promql.maxSamples=${ctx.limits.maxSamples}): narrow match[], start and end (limit cuts the answer only once the engine gave it whole)`);
      throw tooManySamples(ctx.limits, `the engine's answer is larger than ${bytes} bytes`);
    }
    if (timeout.aborted) throw timedOut();
    throw new PrometheusError('unavailable', (err as Error).message);
  } finally {
    release();
  }
  // The timer fires only when the event loop gets to it: an answer read whole before then (this process paused on a
  // busy machine while the engine answered) may still be past the deadline.
  if (performance.now() - started > timeoutMs) throw timedOut();
  const succeeded = answer.status === 200 && (answer.text.startsWith(SUCCESS_START) || (answer.body as PrometheusSuccess<T> | undefined)?.status === 'success');
  if (!succeeded) throw engineFailure(answer.status, answer.body, blamed);
  return {
    text: answer.text,
    get body() {
      return answer.body as PrometheusSuccess<T>;
    },
  };
}
