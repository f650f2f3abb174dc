import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Config } from '@terminusa/config';
import { RE2JS } from 're2js';
import type { ProbeReport } from './probe-report.ts';

/** A configured HTTP probe. */
export type HttpProbe = Extract<Config['collection']['probes'][number], { kind: 'http' }>;

/** Options of an HTTP probe run. */
export interface HttpProbeOptions {
  timeoutMs: number;
  tags: Record<string, string>;
  /** Extra trusted CA certificates (PEM), for a private CA. */
  ca?: string | Buffer;
}

/** Body bytes read for `bodyMatch`; a health page larger than this is not what a probe is for. */
const MAX_BODY_BYTES = 1024 * 1024;
const DAY_MS = 86_400_000;

interface HttpOutcome {
  status: number;
  body: string;
  /** `valid_to` of the server's certificate, for https. */
  certValidTo?: string;
  error?: string;
}

/**
 * GETs the probe's URL within `timeoutMs` on a fresh connection (so the TLS handshake, and with it the certificate,
 * is part of every probe), and records `probe_success` (status as expected and, when set, body matching),
 * `probe_http_status_code`, `probe_duration_seconds`, `probe_body_match` and, for https, `probe_tls_cert_days_left`.
 */
export async function runHttpProbe(probe: HttpProbe, options: HttpProbeOptions): Promise<ProbeReport> {
  const ts = Date.now();
  const started = performance.now();
  const outcome = await get(probe.url, options);
  const seconds = (performance.now() - started) / 1000;
  const bodyMatched = probe.bodyMatch === undefined || (outcome.error === undefined && bodyMatcher(probe.bodyMatch)(outcome.body));
  const success = outcome.error === undefined && outcome.status === probe.expectStatus && bodyMatched;
  const tags = options.tags;
  const samples = [
    { name: 'probe_success', value: success ? 1 : 0, ts, tags },
    { name: 'probe_http_status_code', value: outcome.status, ts, tags },
    { name: 'probe_duration_seconds', value: seconds, ts, tags },
  ];
  if (probe.bodyMatch !== undefined) samples.push({ name: 'probe_body_match', value: bodyMatched ? 1 : 0, ts, tags });
  const validTo = outcome.certValidTo ? Date.parse(outcome.certValidTo) : NaN;
  if (Number.isFinite(validTo)) samples.push({ name: 'probe_tls_cert_days_left', value: (validTo - ts) / DAY_MS, ts, tags });
  const error = outcome.error ?? (success ? undefined : outcome.status !== probe.expectStatus ? `HTTP ${outcome.status}, expected ${probe.expectStatus}` : 'body did not match');
  return { success, samples, ...(error ? { error } : {}) };
}

/**
 * `bodyMatch` is a regular expression in RE2 syntax, as in blackbox_exporter (Go's regexp), matched in time linear in
 * the body: a pattern in the configuration cannot make a probe backtrack for minutes over a large page. Text that is
 * not a valid pattern is matched literally.
 */
export function bodyMatcher(pattern: string): (body: string) => boolean {
  try {
    const re = RE2JS.compile(pattern);
    return (body) => re.matcher(body).find();
  } catch {
    return (body) => body.includes(pattern);
  }
}

function get(url: string, options: HttpProbeOptions): Promise<HttpOutcome> {
  const https = url.startsWith('https:');
  return new Promise((resolve) => {
    let status = 0;
    let certValidTo: string | undefined;
    let failure: string | undefined;
    let truncated = false;
    const chunks: Buffer[] = [];
    let bytes = 0;
    const finish = (error?: string) => {
      clearTimeout(timer);
      resolve({ status, body: Buffer.concat(chunks).toString('utf8'), ...(certValidTo ? { certValidTo } : {}), ...(error ? { error } : {}) });
    };
    const onResponse = (res: IncomingMessage) => {
      status = res.statusCode ?? 0;
      if (https) certValidTo = (res.socket as TLSSocket).getPeerCertificate().valid_to;
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        bytes += chunk.length;
        if (bytes >= MAX_BODY_BYTES) {
          truncated = true;
          req.destroy();
        }
      });
      res.on('error', () => undefined); // reported through 'close' below, with the reason we know
      res.once('end', () => finish());
      res.once('close', () => finish(res.complete || truncated ? undefined : (failure ?? 'connection closed before the body ended')));
    };
    const headers = { 'user-agent': 'terminusa-collector' };
    // agent: false opens a new connection each time; a kept-alive socket would skip the handshake being measured.
    const req = https ? httpsRequest(url, { agent: false, headers, ...(options.ca ? { ca: options.ca } : {}) }, onResponse) : httpRequest(url, { agent: false, headers }, onResponse);
    const timer = setTimeout(() => {
      failure = `timed out after ${options.timeoutMs} ms`;
      req.destroy();
    }, options.timeoutMs);
    req.once('error', (err: NodeJS.ErrnoException) => finish(truncated ? undefined : (failure ?? err.code ?? err.message)));
    req.end();
  });
}
