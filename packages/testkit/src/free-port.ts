import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** Where the ports handed out are marked, for every test process of the machine (vitest's workers, benches). */
const RESERVED_DIR = join(tmpdir(), 'tmon-test-ports');
/** How long a port handed out stays someone else's: long enough for the slowest process start to bind it. */
const RESERVED_MS = 10 * 60_000;

/**
 * Marks `port` as handed out, unless another process (or this one) did within RESERVED_MS: a port is free until its
 * server binds it, seconds later for a service started as a process, and two tests that drew the same free port in
 * that time ran into each other (EADDRINUSE, a replica of the scaling test gone).
 */
function reserve(port: number): boolean {
  mkdirSync(RESERVED_DIR, { recursive: true });
  const file = join(RESERVED_DIR, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    try {
      if (Date.now() - statSync(file).mtimeMs < RESERVED_MS) return false;
      writeFileSync(file, String(process.pid));
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago and that no other test of the machine was handed in the last
 * minutes, for a server a test starts as a process.
 */
export async function freePort(): Promise<number> {
  const { low, high } = candidateRange();
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (!FETCH_BAD_PORTS.has(port) && reserve(port) && (await bindable(port))) return port;
  }
  throw new Error(`no free port found between ${low} and ${high}`);
}
