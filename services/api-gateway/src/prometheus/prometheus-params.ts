import type { Request } from 'express';
import { prometheusDurationMs } from '@terminusa/config';
import { invalidParameter } from './prometheus-errors.ts';

/** Prometheus' own words for the start and end of time, which its clients send for an open range. */
const OPEN_TIMES = new Set(['-292273086-05-16T16:47:06Z', '292277025-08-18T07:12:54.999999999Z']);
const FLOAT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * Epoch ms of an RFC 3339 time whose every field is in range; NaN otherwise. Date.parse rolls an impossible date
 * over (February 30th was March 2nd, 24:00 the next day), where Prometheus answers 400.
 */
function rfc3339Ms(text: string): number {
  const m = RFC3339.exec(text);
  if (!m) return NaN;
  const [year, month, day, hour, minute, second, offsetHours = 0, offsetMinutes = 0] = m.slice(1).map((f) => (f === undefined ? undefined : Number(f)));
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  const inRange = month! >= 1 && month! <= 12 && day! >= 1 && day! <= daysInMonth && hour! <= 23 && minute! <= 59 && second! <= 59 && offsetHours <= 23 && offsetMinutes <= 59;
  return inRange ? Date.parse(text) : NaN;
}
/** The widest time JavaScript dates hold, in epoch ms. */
const MAX_TIME_MS = 8.64e15;

/** The request's parameters as Prometheus reads them: a POST's form fields first, then the URL's query string. */
export function formOf(req: Request): URLSearchParams {
  const form = new URLSearchParams();
  const add = (source: unknown) => {
    for (const [key, value] of Object.entries((source ?? {}) as Record<string, unknown>)) {
      for (const v of Array.isArray(value) ? value : [value]) if (typeof v === 'string') form.append(key, v);
    }
  };
  if (req.is('application/x-www-form-urlencoded')) add(req.body);
  add(req.query);
  return form;
}

/** Epoch ms of a Prometheus time parameter (seconds with a fraction, or RFC 3339); `fallback` when it is absent. */
export function timeParam(form: URLSearchParams, name: string, fallback?: number): number {
  const text = form.get(name) ?? '';
  if (text === '' && fallback !== undefined) return fallback;
  const ms = FLOAT.test(text) ? Math.round(Number(text) * 1000) : rfc3339Ms(text);
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIME_MS) throw invalidParameter(name, `cannot parse ${JSON.stringify(text)} to a valid timestamp`);
  return ms;
}

/** Epoch ms of a time parameter that may leave a range open (absent, or Prometheus' start or end of time): undefined then. */
export function openTimeParam(form: URLSearchParams, name: string): number | undefined {
  const text = form.get(name) ?? '';
  return text === '' || OPEN_TIMES.has(text) ? undefined : timeParam(form, name);
}

/** Milliseconds of a Prometheus duration parameter (seconds with a fraction, or `1h30m`); undefined when it is absent. */
export function durationParam(form: URLSearchParams, name: string, required = false): number | undefined {
  const text = form.get(name) ?? '';
  if (text === '' && !required) return undefined;
  let ms = NaN;
  if (FLOAT.test(text)) ms = Number(text) * 1000;
  else ms = prometheusDurationMs(text) ?? NaN;
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIME_MS) throw invalidParameter(name, `cannot parse ${JSON.stringify(text)} to a valid duration`);
  return ms;
}

/** A positive `limit` parameter; undefined when it is absent. */
export function limitParam(form: URLSearchParams): number | undefined {
  const text = form.get('limit') ?? '';
  if (text === '') return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw invalidParameter('limit', 'limit must be a positive integer');
  return Number(text);
}

/** Epoch ms as the engine's time and duration parameters take them: seconds with a fraction. */
export function engineSeconds(ms: number): string {
  return String(ms / 1000);
}
