import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports handed out are taken below the kernel's ephemeral range: a port the kernel picked for `listen(0)` can be
 * taken again, before the test's process binds it, by any outgoing connection (dozens open while services
 * start in parallel); a port below the range never is.
 */
function candidateRange(): { low: number; high: number } {
  try {
    const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (ephemeralLow && ephemeralLow > 12_000) return { low: 10_000, high: ephemeralLow - 1 };
  } catch {
    // Not Linux: fall back to the IANA dynamic range's neighbour below it.
  }
  return { low: 20_000, high: 32_767 };
}

/**
 * Fetch refuses the ports of the Fetch standard's "bad port" list ("TypeError: fetch failed", cause "bad port"),
 * so a test reaching such a server by fetch would fail; 10080 is the only one of them at or above 10,000.
 */
const FETCH_BAD_PORTS = new Set([10080]);

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago, for a server a test starts as a process. */
export async function freePort(): Promise<number> {
  const { low, high } = candidateRange();
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (!FETCH_BAD_PORTS.has(port) && (await bindable(port))) return port;
  }
  throw new Error(`no free port found between ${low} and ${high}`);
}
