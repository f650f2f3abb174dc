import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a test receiver got. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How a test receiver answers a request: with a status, or not at all. */
export type ReceiverAnswer = number | 'hang';

/** A real HTTP server on a free local port that records requests, for tests of HTTP clients (notification channels, webhooks). */
export interface TestReceiver {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  requests: ReceivedRequest[];
  /** Sets the answers to the next requests, in order; the last one repeats. */
  answer(...answers: ReceiverAnswer[]): void;
  close(): Promise<void>;
}

/** Starts a test receiver answering 200 until told otherwise. */
export async function startTestReceiver(...answers: ReceiverAnswer[]): Promise<TestReceiver> {
  let script: ReceiverAnswer[] = answers.length ? answers : [200];
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const next = script.length > 1 ? script.shift()! : script[0]!;
      if (next === 'hang') return;
      // The body echoes the path, as many 404 pages do, so tests can check that it stays out of error messages.
      res.writeHead(next, { 'content-type': 'text/plain' }).end(next < 300 ? 'ok' : `cannot handle ${req.url}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    answer: (...next) => {
      script = next;
    },
    close: async () => {
      if (!server.listening) return;
      // Hanging requests would keep close() waiting for ever.
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
