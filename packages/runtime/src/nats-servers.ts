/** Server URLs and credentials for `connect`, from the suite's `nats.url`. */
export interface NatsServers {
  servers: string[];
  user?: string;
  pass?: string;
}

/**
 * Splits `nats.url` (one URL or several, comma-separated) into servers and credentials: nats.js ignores a
 * user and password written in a server URL, so `nats://processor:secret@nats:4222` would connect without them
 * and be refused by a server with users (deploy/nats/permissions.conf).
 */
export function natsServers(url: string): NatsServers {
  const out: NatsServers = { servers: [] };
  for (const raw of url.split(',').map((s) => s.trim()).filter(Boolean)) {
    const parsed = /^[a-z]+:\/\//i.test(raw) ? new URL(raw) : new URL(`nats://${raw}`);
    if (parsed.username && out.user === undefined) {
      out.user = decodeURIComponent(parsed.username);
      out.pass = decodeURIComponent(parsed.password);
    }
    parsed.username = '';
    parsed.password = '';
    out.servers.push(`${parsed.protocol}//${parsed.host}`);
  }
  return out;
}
