import { CALLS, CONSUMERS, Namespace, SAMPLES_DEAD_LETTER_SOURCE, STREAMS, SUBJECTS, type ConsumerName, type StreamName } from '@terminusa/bus';
import type { ServiceName as Service } from '@terminusa/runtime';
import { SERVICES } from './overlays.ts';

type SubjectKey = keyof typeof SUBJECTS;
type CallKey = keyof typeof CALLS;

/** What one service does on NATS, by the names of the subject map in `@terminusa/bus`. */
export interface NatsNeeds {
  /** Subjects it publishes (core or JetStream); `params` fill the subject's parameters, absent: the whole family. */
  publishes: { subject: SubjectKey; params?: string[] }[];
  /** Core subscriptions. */
  subscribes: SubjectKey[];
  /** Durable consumers it pulls from (and creates or updates at start). */
  consumes: ConsumerName[];
  /** Calls it answers, in a queue group. */
  serves: CallKey[];
  /** Calls it makes. */
  calls: CallKey[];
  /** Asks the NATS services API (`$SRV.PING/INFO/STATS`) for the instances of the suite. */
  discovers: boolean;
}

/**
 * What each service does on NATS. Every service also runs `ensureStreams` at start, registers with the
 * services API and answers its health endpoint (`runService`), which `natsPermissions` adds to all.
 */
export const NATS_NEEDS: Record<Service, NatsNeeds> = {
  collector: {
    publishes: [{ subject: 'ingest', params: ['collector'] }, { subject: 'ingest', params: ['scrape'] }, { subject: 'ingest', params: ['probe'] }],
    subscribes: [],
    consumes: [],
    serves: [],
    calls: [],
    // Scrapes the suite's own instances, found through discovery.
    discovers: true,
  },
  processor: {
    publishes: [{ subject: 'samples' }, { subject: 'deadLetter' }],
    subscribes: [],
    consumes: ['processor'],
    serves: [],
    calls: [],
    discovers: false,
  },
  // Dead-letters a SAMPLES body it cannot decode.
  storage: { publishes: [{ subject: 'deadLetter', params: [SAMPLES_DEAD_LETTER_SOURCE] }], subscribes: [], consumes: ['storage'], serves: ['archiveList', 'archiveLoad'], calls: [], discovers: false },
  'alert-manager': {
    // Recording rules publish their samples as the `rules` source.
    publishes: [{ subject: 'alertEvents' }, { subject: 'dashboardNotifications' }, { subject: 'alertConfigChanged' }, { subject: 'ingest', params: ['rules'] }],
    subscribes: ['alertConfigChanged'],
    consumes: ['alert-manager'],
    serves: ['alertAck'],
    calls: [],
    discovers: false,
  },
  backup: {
    publishes: [{ subject: 'ingest', params: ['backup'] }],
    subscribes: [],
    consumes: [],
    serves: ['backupRun', 'backupList', 'backupRestore', 'backupJob', 'backupVerify'],
    calls: [],
    discovers: false,
  },
  'api-gateway': {
    // POST /metrics/custom?source= publishes for any source.
    publishes: [{ subject: 'ingest' }, { subject: 'alertConfigChanged' }],
    subscribes: ['samples', 'alertEvents', 'dashboardNotifications'],
    consumes: [],
    serves: [],
    calls: ['alertAck', 'backupRun', 'backupList', 'backupRestore', 'backupJob', 'backupVerify', 'archiveList', 'archiveLoad'],
    // GET /health lists the live instances of every service.
    discovers: true,
  },
};

/** Publish and subscribe permissions of one NATS user. */
export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
}

const unique = (xs: string[]) => [...new Set(xs)];

function subjectOf(ns: Namespace, key: SubjectKey, params?: string[]): string {
  const def = SUBJECTS[key] as { filter: string; build: (...p: string[]) => string };
  return ns.subject(params ? def.build(...params) : def.filter);
}

/** The JetStream API subjects a pull consumer's replicas use: look it up, create or update it, pull, ack. */
function consumerApi(ns: Namespace, name: ConsumerName): string[] {
  const stream = ns.stream(CONSUMERS[name].stream);
  return [
    `$JS.API.CONSUMER.INFO.${stream}.${name}`,
    // nats.js names the filter in the subject when there is one (server 2.9+); older servers use DURABLE.CREATE.
    `$JS.API.CONSUMER.CREATE.${stream}.${name}`,
    `$JS.API.CONSUMER.CREATE.${stream}.${name}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${name}`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`,
    `$JS.ACK.${stream}.${name}.>`,
  ];
}

/**
 * The permissions of one service in namespace `prefix` (empty in production), derived from its `NATS_NEEDS`
 * and the subject map. Replies to requests it receives (calls, discovery, health) are allowed by
 * `allow_responses`, so no service may publish into another's inbox otherwise.
 */
export function natsPermissions(service: Service, prefix = ''): NatsPermissions {
  const ns = new Namespace(prefix);
  const needs = NATS_NEEDS[service];
  const streams = (Object.keys(STREAMS) as StreamName[]).map((s) => ns.stream(s));
  const publish = [
    ...needs.publishes.map((p) => subjectOf(ns, p.subject, p.params)),
    ...needs.calls.map((c) => ns.subject(CALLS[c].subject)),
    ...needs.consumes.flatMap((c) => consumerApi(ns, c)),
    // ensureStreams at every start: account info, then each stream's info and create or update.
    '$JS.API.INFO',
    ...streams.flatMap((s) => [`$JS.API.STREAM.INFO.${s}`, `$JS.API.STREAM.CREATE.${s}`, `$JS.API.STREAM.UPDATE.${s}`]),
    ...(needs.discovers ? ['$SRV.>'] : []),
  ];
  const subscribe = [
    // Replies to its own requests, JetStream API answers and publish acks, pulled consumer messages.
    '_INBOX.>',
    ...needs.subscribes.map((s) => subjectOf(ns, s)),
    ...needs.serves.map((c) => ns.subject(CALLS[c].subject)),
    // The services API: $SRV.<verb>, $SRV.<verb>.<service>, $SRV.<verb>.<service>.<id>; and its health endpoint.
    '$SRV.*',
    `$SRV.*.${service}`,
    `$SRV.*.${service}.>`,
    subjectOf(ns, 'health', [service, '*']),
  ];
  return { publish: unique(publish), subscribe: unique(subscribe) };
}

/** Game services and other producers: metric messages and events, nothing else. */
export function producerPermissions(prefix = ''): NatsPermissions {
  const ns = new Namespace(prefix);
  return { publish: [subjectOf(ns, 'ingest'), subjectOf(ns, 'events')], subscribe: ['_INBOX.>'] };
}

/** Every user of permissions.conf: one per service, `producer` for game services and `admin`. */
export const NATS_USERS: readonly string[] = [...SERVICES, 'producer', 'admin'];

export const NATS_CLIENT_PORT = 4222;
export const NATS_MONITOR_PORT = 8222;
/** Where the shipped deployments mount nats.conf and permissions.conf in the NATS container. */
export const NATS_CONFIG_DIR = '/etc/nats';

/**
 * The NATS server's configuration in the shipped deployments (deploy/nats/nats.conf: docker-compose.yml and
 * the k8s StatefulSet): JetStream on /data, monitoring (`/healthz`) on 8222 and the users of permissions.conf,
 * which lies beside it. The k8s StatefulSet adds its name and the cluster on the command line.
 */
export function renderNatsServerConfig(): string {
  return [
    '# Generated by packages/deploy-manifests (pnpm k8s:render). Do not edit by hand.',
    '# The NATS server of docker-compose.yml and of the k8s StatefulSet: nats-server -c nats.conf, with permissions.conf',
    '# beside it and TMON_NATS_PASSWORD_<USER> for every user in the environment (see docs/deploy.md).',
    `port: ${NATS_CLIENT_PORT}`,
    `# Monitoring: /healthz for the health checks and probes. Not published outside the network.`,
    `http_port: ${NATS_MONITOR_PORT}`,
    'jetstream {',
    '  store_dir: "/data"',
    '}',
    '# Every client logs in: one user per service with only its own subjects.',
    'include ./permissions.conf',
    '',
  ].join('\n');
}

/** Environment variable the NATS server reads a user's password from, e.g. `TMON_NATS_PASSWORD_ALERT_MANAGER`. */
export function natsPasswordVariable(user: string): string {
  return `TMON_NATS_PASSWORD_${user.toUpperCase().replace(/-/g, '_')}`;
}

const quote = (s: string) => JSON.stringify(s);
const list = (xs: string[], indent: string) => `[\n${xs.map((x) => `${indent}  ${quote(x)}`).join(',\n')}\n${indent}]`;

function userBlock(user: string, permissions?: NatsPermissions): string {
  const lines = [`    {`, `      user: ${quote(user)}`, `      password: $${natsPasswordVariable(user)}`];
  if (permissions) {
    lines.push(
      `      permissions: {`,
      `        publish: { allow: ${list(permissions.publish, '        ')} }`,
      `        subscribe: { allow: ${list(permissions.subscribe, '        ')} }`,
      `        allow_responses: true`,
      `      }`,
    );
  }
  lines.push(`    }`);
  return lines.join('\n');
}

/**
 * The NATS server configuration fragment (`include` it from nats-server.conf): one user per service with only
 * its own subjects, a `producer` user for game services, and an `admin` user with every permission (streams by
 * hand, the `nats` CLI). Passwords come from the server's environment (`TMON_NATS_PASSWORD_<USER>`).
 */
export function renderNatsPermissions(prefix = ''): string {
  const users = NATS_USERS.map((u) =>
    u === 'admin' ? userBlock(u) : userBlock(u, u === 'producer' ? producerPermissions(prefix) : natsPermissions(u as Service, prefix)),
  );
  return [
    '# Generated by packages/deploy-manifests (pnpm k8s:render) from the subject map of @terminusa/bus. Do not edit by hand.',
    '# Included by nats.conf; set TMON_NATS_PASSWORD_<USER> in the server\'s environment, and give each service its',
    '# user in NATS_URL (nats://<service>@nats:4222) and its password in NATS_PASSWORD_FILE or NATS_PASSWORD.',
    'authorization {',
    '  users = [',
    users.join(',\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}
