import { ErrorCode, JSONCodec, RequestStrategy, type NatsConnection, type NatsError, type Service, type ServiceStats } from 'nats';
import { SUBJECTS, type Bus } from '@terminusa/bus';
import type { Health } from './health.ts';

const json = JSONCodec();

/** What an instance tells discovery about itself (NATS services API metadata). */
export interface InstanceMetadata {
  namespace: string;
  instance: string;
  host: string;
  /** Where other hosts reach the ops server (ops.address); empty: at `host`. */
  address: string;
  opsPort: string;
  [key: string]: string;
}

/**
 * Registers the instance with the NATS services API, so `$SRV.PING/INFO/STATS` (and `nats micro ls`) find it,
 * and answers health requests on its own subject.
 */
export async function registerInstance(
  bus: Bus,
  health: Health,
  info: { service: string; version: string; description: string; metadata: InstanceMetadata },
): Promise<Service> {
  const srv = await bus.nc.services.add({
    name: info.service,
    version: info.version,
    description: info.description,
    metadata: info.metadata,
  });
  srv.addEndpoint('health', {
    subject: bus.subject(SUBJECTS.health, info.service, info.metadata.instance),
    handler: (err, msg) => {
      if (err) return;
      void health.report().then((report) => msg.respond(json.encode(report)));
    },
  });
  return srv;
}

/** One live instance of a service, as discovery sees it. */
export interface DiscoveredInstance {
  service: string;
  id: string;
  instance: string;
  host: string;
  /** Where other hosts reach its ops server: the advertised ops.address, else its host name. */
  address: string;
  opsPort: number;
  version: string;
  /** Requests handled per endpoint, with errors and mean processing time. */
  endpoints: { name: string; requests: number; errors: number; averageProcessingMs: number }[];
  started: string;
}

/** Asks every registered instance in `namespace` for its stats; returns the ones that answered in time. */
export async function discoverInstances(nc: NatsConnection, namespace: string, maxWaitMs = 500): Promise<DiscoveredInstance[]> {
  const client = nc.services.client({ maxWait: maxWaitMs, strategy: RequestStrategy.JitterTimer, jitter: 150 });
  const found: DiscoveredInstance[] = [];
  for (const stats of await allStats(client)) {
    const meta = (stats.metadata ?? {}) as Partial<InstanceMetadata>;
    if ((meta.namespace ?? '') !== namespace) continue;
    found.push({
      service: stats.name,
      id: stats.id,
      instance: meta.instance ?? stats.id,
      host: meta.host ?? '',
      address: meta.address || meta.host || '',
      opsPort: Number(meta.opsPort ?? 0),
      version: stats.version,
      started: stats.started,
      endpoints: (stats.endpoints ?? []).map((e) => ({
        name: e.name,
        requests: e.num_requests,
        errors: e.num_errors,
        averageProcessingMs: e.average_processing_time / 1e6,
      })),
    });
  }
  return found.sort((a, b) => a.service.localeCompare(b.service) || a.instance.localeCompare(b.instance));
}

/** Every stats reply; none at all (no instance registered) is an empty list, not an error. */
async function allStats(client: ReturnType<NatsConnection['services']['client']>): Promise<ServiceStats[]> {
  const replies: ServiceStats[] = [];
  try {
    for await (const stats of await client.stats()) replies.push(stats);
  } catch (err) {
    if ((err as NatsError).code !== ErrorCode.NoResponders) throw err;
  }
  return replies;
}
