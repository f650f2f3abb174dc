import type { ChannelName } from '@terminusa/alerting';
import { DeliveryError, isRetryableStatus } from './channel.ts';

/** Milliseconds an HTTP receiver has to answer, unless its channel is given another timeout. */
export const DEFAULT_HTTP_TIMEOUT_MS = 5000;

/** Where a JSON delivery goes; `receiver` names it in errors, because the URL itself may be a credential. */
export interface JsonPost {
  channel: ChannelName;
  receiver: string;
  url: string;
  body: string;
  headers?: Record<string, string>;
  timeoutMs: number;
}

/** POSTs a JSON body and resolves on a 2xx answer; any other outcome rejects with a DeliveryError. */
export async function postJson(post: JsonPost): Promise<void> {
  const { channel, receiver, timeoutMs } = post;
  let status: number;
  try {
    const response = await fetch(post.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...post.headers },
      body: post.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Reading the body inside the deadline frees the connection and catches a receiver that stalls after its headers.
    await response.arrayBuffer();
    status = response.status;
  } catch (err) {
    // The raw error is not passed on: fetch quotes the URL in some of its errors, and a Slack URL is a credential.
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
      throw new DeliveryError(channel, `${receiver} did not answer within ${timeoutMs} ms`, { retryable: true });
    }
    throw new DeliveryError(channel, `${receiver} could not be reached (${networkCode(err)})`, { retryable: true });
  }
  // The answer's body is left out of the message too: a 404 page often echoes the requested path.
  if (status < 200 || status >= 300) {
    throw new DeliveryError(channel, `${receiver} answered ${status}`, { retryable: isRetryableStatus(status), status });
  }
}

function networkCode(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined;
  const code = cause && typeof cause === 'object' && 'code' in cause ? cause.code : undefined;
  return typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : 'network error';
}
