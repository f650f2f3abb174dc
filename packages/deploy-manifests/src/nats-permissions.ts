import { CALLS, CONSUMERS, inboxPrefix, Namespace, SAMPLES_DEAD_LETTER_SOURCE, STREAMS, SUBJECTS, type ConsumerName, type StreamName } from '@terminusa/bus';
import { SERVICE_NAMES, type ServiceName as Service } from '@terminusa/config';
import { BOOTSTRAP_USER } from '@terminusa/runtime';
import { PRODUCERS_FILE, producerNameProblem, readProducers, type Producer } from './producers.ts';

type SubjectKey = keyof typeof SUBJECTS;
type CallKey = keyof typeof CALLS;

/** What one service does on NATS, by the names of the subject map in `@terminusa/bus`. */
export interface NatsNeeds {
  /** Subjects it publishes (core or JetStream); `params` fill the subject's parameters, absent: the whole family. */
  publishes: { subject: SubjectKey; params?: string[] }[];
  /** Core subscriptions. */
  subscribes: SubjectKey[];
  /** Durable consumers it pulls from (made by the bootstrap; the service looks them up, pulls and acks). */
  consumes: ConsumerName[];
  /** Durable consumers whose state it reads (`$JS.API.CONSUMER.INFO` only), e.g. the gateway the processor's backlog. */
  inspects: ConsumerName[];
  /** Streams whose messages it reads by sequence and removes (`$JS.API.STREAM.MSG.GET`, `.DELETE`): the gateway the dead letters. */
  browses: StreamName[];
  /** Calls it answers, in a queue group. */
  serves: CallKey[];
  /** Calls it makes. */
  calls: CallKey[];
  /** Asks the NATS services API (`$SRV.PING/INFO/STATS`) for the instances of the suite. */
  discovers: boolean;
}

/**
 * What each service does on NATS. Every service also looks up the streams at start (`prepareStreams`), registers
 * with the services API and answers its health endpoint (`runService`), which `natsPermissions` adds to all.
 */
export const NATS_NEEDS: Record<Service, NatsNeeds> = {
  collector: {
    publishes: [{ subject: 'ingest', params: ['collector'] }, { subject: 'ingest', params: ['scrape'] }, { subject: 'ingest', params: ['probe'] }],
    subscribes: [],
    consumes: [],
    inspects: [],
    browses: [],
    serves: [],
    calls: [],
    // Scrapes the suite's own instances, found through discovery.
    discovers: true,
  },
  processor: {
    publishes: [{ subject: 'samples' }, { subject: 'deadLetter' }],
    subscribes: [],
    consumes: ['processor'],
    inspects: [],
    browses: [],
    serves: [],
    calls: [],
    discovers: false,
  },
  // Dead-letters a SAMPLES body it cannot decode or store.
  storage: { publishes: [{ subject: 'deadLetter', params: [SAMPLES_DEAD_LETTER_SOURCE] }], subscribes: [], consumes: ['storage'], inspects: [], browses: [], serves: ['archiveList', 'archiveLoad'], calls: [], discovers: false },
  'alert-manager': {
    // Recording rules publish their samples as the `rules` source; a SAMPLES body it cannot evaluate is dead-lettered.
    publishes: [
      { subject: 'alertEvents' },
      { subject: 'dashboardNotifications' },
      { subject: 'alertConfigChanged' },
      { subject: 'ingest', params: ['rules'] },
      { subject: 'deadLetter', params: [SAMPLES_DEAD_LETTER_SOURCE] },
    ],
    subscribes: ['alertConfigChanged'],
    consumes: ['alert-manager'],
    inspects: [],
    browses: [],
    serves: ['alertAck'],
    calls: [],
    discovers: false,
  },
  backup: {
    publishes: [{ subject: 'ingest', params: ['backup'] }],
    subscribes: [],
    consumes: [],
    inspects: [],
    browses: [],
    serves: ['backupRun', 'backupList', 'backupRestore', 'backupJob', 'backupVerify'],
    calls: [],
    discovers: false,
  },
  'api-gateway': {
    // POST /metrics/custom?source= publishes for any source; a dead letter's replay, to the subject it came on.
    publishes: [{ subject: 'ingest' }, { subject: 'events' }, { subject: 'alertConfigChanged' }],
    subscribes: ['samples', 'alertEvents', 'dashboardNotifications'],
    consumes: [],
    // Ingest answers 429 while the processor's backlog (its consumer's pending and unacked) is over the limit.
    inspects: ['processor'],
    // The dead-letter routes list refused messages, and remove the ones they replay.
    browses: ['DEADLETTER'],
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
  /** May answer requests it received (publish once to their reply subjects): for users that serve calls. */
  allowResponses: boolean;
}

const unique = (xs: string[]) => [...new Set(xs)];

function subjectOf(ns: Namespace, key: SubjectKey, params?: string[]): string {
  const def = SUBJECTS[key] as { filter: string; build: (...p: string[]) => string };
  return ns.subject(params ? def.build(...params) : def.filter);
}

const streamNames = (ns: Namespace) => (Object.keys(STREAMS) as StreamName[]).map((s) => ns.stream(s));
const consumerStream = (ns: Namespace, name: ConsumerName) => ns.stream(CONSUMERS[name].stream);

/** What a replica of a consuming service does with its own durable consumer: look it up, pull, ack (and nak, in progress). */
function consumerApi(ns: Namespace, name: ConsumerName): string[] {
  const stream = consumerStream(ns, name);
  return [`$JS.API.CONSUMER.INFO.${stream}.${name}`, `$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`, `$JS.ACK.${stream}.${name}.>`];
}

/** The subscription of a user's own inbox: every reply, JetStream API answer, publish ack and pulled message it gets. */
export const inboxSubscription = (user: string) => `${inboxPrefix(user)}.>`;

/**
 * The permissions of one service in namespace `prefix` (empty in production), derived from its `NATS_NEEDS`
 * and the subject map. It binds to the streams and its consumer the bootstrap made (INFO only: no create, update
 * or delete), subscribes to its own inbox `_INBOX_<service>` only, and answers the requests it receives (calls,
 * discovery, health) under `allow_responses`, so it may not publish into another's inbox otherwise.
 */
export function natsPermissions(service: Service, prefix = ''): NatsPermissions {
  const ns = new Namespace(prefix);
  const needs = NATS_NEEDS[service];
  const publish = [
    ...needs.publishes.map((p) => subjectOf(ns, p.subject, p.params)),
    ...needs.calls.map((c) => ns.subject(CALLS[c].subject)),
    ...needs.consumes.flatMap((c) => consumerApi(ns, c)),
    ...needs.inspects.map((c) => `$JS.API.CONSUMER.INFO.${consumerStream(ns, c)}.${c}`),
    ...needs.browses.flatMap((stream) => [`$JS.API.STREAM.MSG.GET.${ns.stream(stream)}`, `$JS.API.STREAM.MSG.DELETE.${ns.stream(stream)}`]),
    // prepareStreams at every start: account info (nats.js' jetstreamManager), then each stream's info.
    '$JS.API.INFO',
    ...streamNames(ns).map((s) => `$JS.API.STREAM.INFO.${s}`),
    ...(needs.discovers ? ['$SRV.>'] : []),
  ];
  const subscribe = [
    inboxSubscription(service),
    ...needs.subscribes.map((s) => subjectOf(ns, s)),
    ...needs.serves.map((c) => ns.subject(CALLS[c].subject)),
    // The services API: $SRV.<verb>, $SRV.<verb>.<service>, $SRV.<verb>.<service>.<id>; and its health endpoint.
    '$SRV.*',
    `$SRV.*.${service}`,
    `$SRV.*.${service}.>`,
    subjectOf(ns, 'health', [service, '*']),
  ];
  return { publish: unique(publish), subscribe: unique(subscribe), allowResponses: true };
}

/**
 * The bootstrap identity (`pnpm nats:bootstrap`, the compose service and k8s Job nats-bootstrap): creates and
 * updates the suite's streams and durable consumers, and nothing else; no deletes, no messages.
 */
export function bootstrapPermissions(prefix = ''): NatsPermissions {
  const ns = new Namespace(prefix);
  const publish = [
    '$JS.API.INFO',
    ...streamNames(ns).flatMap((s) => [`$JS.API.STREAM.INFO.${s}`, `$JS.API.STREAM.CREATE.${s}`, `$JS.API.STREAM.UPDATE.${s}`]),
    ...(Object.keys(CONSUMERS) as ConsumerName[]).flatMap((name) => {
      const stream = consumerStream(ns, name);
      return [
        `$JS.API.CONSUMER.INFO.${stream}.${name}`,
        // nats.js names the filter in the subject when there is one (server 2.9+); older servers use DURABLE.CREATE.
        `$JS.API.CONSUMER.CREATE.${stream}.${name}`,
        `$JS.API.CONSUMER.CREATE.${stream}.${name}.>`,
        `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${name}`,
      ];
    }),
  ];
  return { publish: unique(publish), subscribe: [inboxSubscription(BOOTSTRAP_USER)], allowResponses: false };
}

/**
 * One game service (or other producer): publishes as its own source only, core or JetStream (a JetStream publish
 * is a request to the subject itself, its ack comes to the producer's inbox), and reads nothing but that inbox.
 * No JetStream API at all: it cannot create, change or delete a stream, nor read one.
 */
export function producerPermissions(name: string, prefix = ''): NatsPermissions {
  const ns = new Namespace(prefix);
  return {
    publish: [subjectOf(ns, 'ingest', [name]), ns.subject(`${SUBJECTS.events.build(name, '')}>`)],
    subscribe: [inboxSubscription(name)],
    allowResponses: false,
  };
}

/** The users of permissions.conf with a password: one per service, `bootstrap` and `admin`. Producers log in with an NKEY. */
export const NATS_USERS: readonly string[] = [...SERVICE_NAMES, BOOTSTRAP_USER, 'admin'];

/** Names no producer may take: the suite's users (their inboxes) and the sources the suite publishes as. */
export const RESERVED_PRODUCER_NAMES: readonly string[] = unique([
  ...NATS_USERS,
  ...Object.values(NATS_NEEDS).flatMap((n) => n.publishes.filter((p) => p.subject === 'ingest' && p.params).map((p) => p.params![0]!)),
]);

export const NATS_CLIENT_PORT = 4222;
export const NATS_MONITOR_PORT = 8222;
/** Where the shipped deployments mount nats.conf and permissions.conf in the NATS container. */
export const NATS_CONFIG_DIR = '/etc/nats';

/** The producers of the shipped deployments (deploy/nats/producers.json), checked against the suite's own names. */
export function shippedProducers(file = PRODUCERS_FILE): Producer[] {
  return readProducers(file, RESERVED_PRODUCER_NAMES);
}

/** TLS of the NATS server's client port: PEM files as the server sees them. */
export interface NatsServerTls {
  certFile: string;
  keyFile: string;
  /** The CA of client certificates, with `verify`: every client must present one (mutual TLS). */
  caFile?: string;
  verify?: boolean;
}

/** Where the shipped deployments would mount the NATS server's certificate (commented out in nats.conf). */
export const NATS_TLS_DIR = `${NATS_CONFIG_DIR}/tls`;

const tlsBody = (t: NatsServerTls) => [
  `cert_file: ${quote(t.certFile)}`,
  `key_file: ${quote(t.keyFile)}`,
  ...(t.caFile ? [`ca_file: ${quote(t.caFile)}`] : []),
  ...(t.verify ? ['verify: true'] : []),
  'timeout: 5',
];

/** A `tls {}` block at `indent`: active with `tls`, else commented out with the files of `shipped` and `comment` above it. */
function tlsBlock(tls: NatsServerTls | undefined, indent: string, active: string[], comment: string[], shipped: NatsServerTls): string[] {
  const block = (t: NatsServerTls) => ['tls {', ...tlsBody(t).map((l) => `  ${l}`), '}'];
  if (tls) return [...active, ...block(tls)].map((l) => `${indent}${l}`);
  return [...comment.map((l) => `${indent}${l}`), ...block(shipped).map((l) => `${indent}# ${l}`)];
}

function clientTlsBlock(tls: NatsServerTls | undefined): string[] {
  return tlsBlock(
    tls,
    '',
    ['# TLS on the client port: clients set nats.tls (docs/deploy.md §4).'],
    [
      '# TLS on the client port (docs/deploy.md §4): mount the server certificate under /etc/nats/tls, uncomment, and',
      '# give every client nats.tls.ca (TMON_NATS__TLS__CA); with verify, also nats.tls.cert and nats.tls.key (mutual TLS).',
    ],
    { certFile: `${NATS_TLS_DIR}/tls.crt`, keyFile: `${NATS_TLS_DIR}/tls.key`, caFile: `${NATS_TLS_DIR}/ca.crt`, verify: true },
  );
}

/**
 * The NATS server's configuration in the shipped deployments (deploy/nats/nats.conf: docker-compose.yml and
 * the k8s StatefulSet): JetStream on /data, monitoring (`/healthz`) on 8222, TLS (commented out unless `tls` is
 * given) and the users of permissions.conf, which lies beside it. The k8s StatefulSet runs nats-cluster.conf
 * (`renderNatsClusterConfig`), which includes it and adds the server's name and the cluster.
 */
export function renderNatsServerConfig(options: { tls?: NatsServerTls } = {}): string {
  return [
    '# Generated by packages/deploy-manifests (pnpm k8s:render). Do not edit by hand.',
    // Left as it was when the StatefulSet moved to nats-cluster.conf (which includes this file): any change to
    // deploy/nats/nats.conf is a new Swarm config to rename (docker-compose.yml).
    '# The NATS server of docker-compose.yml and of the k8s StatefulSet: nats-server -c nats.conf, with permissions.conf',
    '# beside it and TMON_NATS_PASSWORD_<USER> for every user in the environment (see docs/deploy.md).',
    `port: ${NATS_CLIENT_PORT}`,
    `# Monitoring: /healthz for the health checks and probes. Not published outside the network.`,
    `http_port: ${NATS_MONITOR_PORT}`,
    'jetstream {',
    '  store_dir: "/data"',
    '}',
    ...clientTlsBlock(options.tls),
    '# Every client logs in: one user per service with only its own subjects, the bootstrap, admin and the producers.',
    'include ./permissions.conf',
    '',
  ].join('\n');
}

export const NATS_CLUSTER_PORT = 6222;
/** The cluster configuration of the k8s StatefulSet, beside nats.conf and permissions.conf in its ConfigMap. */
export const NATS_CLUSTER_CONFIG = 'nats-cluster.conf';
export const NATS_CLUSTER_NAME = 'terminusa';
/** The user every NATS server of the cluster opens its routes as (`cluster { authorization {} }`). */
export const NATS_ROUTE_USER = 'route';
/** The route user's password in the NATS servers' environment (a key of the k8s Secret terminusa-nats-users). */
export const NATS_ROUTE_PASSWORD_VARIABLE = 'TMON_NATS_ROUTE_PASSWORD';
/** What this server tells the others to dial (`host:port`): its own name on the route certificate. */
export const NATS_CLUSTER_ADVERTISE_VARIABLE = 'TMON_NATS_CLUSTER_ADVERTISE';
/** The server's name (JetStream's clustering needs one per server): the pod's name. */
export const NATS_SERVER_NAME_VARIABLE = 'POD_NAME';
/**
 * The environment variable holding the whole URL of route `i`, user and password included. nats-server expands a
 * variable only as a whole value, never inside a string (`nats-route://route:$PASSWORD@…` would send the text
 * `$PASSWORD`), so the StatefulSet composes each URL from the Secret's password.
 */
export const natsRouteUrlVariable = (i: number) => `TMON_NATS_ROUTE_URL_${i}`;

/**
 * The configuration of the k8s StatefulSet's NATS servers (`nats-cluster.conf`): nats.conf as it is, the server's
 * name, and the cluster of `replicas` servers. Routes only between the cluster's servers: each opens its routes
 * as the user `route` with the password of TMON_NATS_ROUTE_PASSWORD and accepts no other; with `tls` (commented
 * out otherwise), over mutual TLS with certificates of the route CA. Its environment: POD_NAME,
 * TMON_NATS_ROUTE_PASSWORD, TMON_NATS_CLUSTER_ADVERTISE and TMON_NATS_ROUTE_URL_<i>, which the StatefulSet sets.
 * docker-compose's single server runs nats.conf alone.
 */
export function renderNatsClusterConfig(options: { replicas: number; tls?: NatsServerTls }): string {
  const routeTls = tlsBlock(
    options.tls,
    '  ',
    ['# TLS between the servers: each verifies the other\'s certificate against the route CA, both ways.'],
    [
      '# TLS between the servers (docs/deploy.md §4): mount the route certificate (names *.nats-headless.<namespace>.svc.cluster.local,',
      '# server and client auth) and its CA under /etc/nats/tls and uncomment; every server needs it at once.',
    ],
    { certFile: `${NATS_TLS_DIR}/route.crt`, keyFile: `${NATS_TLS_DIR}/route.key`, caFile: `${NATS_TLS_DIR}/route-ca.crt`, verify: true },
  );
  return [
    '# Generated by packages/deploy-manifests (pnpm k8s:render). Do not edit by hand.',
    `# The NATS servers of the k8s StatefulSet: nats-server --config=${NATS_CONFIG_DIR}/${NATS_CLUSTER_CONFIG}, nats.conf and permissions.conf`,
    `# beside it. Environment: ${NATS_SERVER_NAME_VARIABLE}, ${NATS_ROUTE_PASSWORD_VARIABLE} (Secret terminusa-nats-users), ${NATS_CLUSTER_ADVERTISE_VARIABLE}`,
    `# and ${natsRouteUrlVariable(0).replace(/0$/, '<i>')}, which the StatefulSet sets (see docs/deploy.md §4).`,
    'include ./nats.conf',
    `server_name: $${NATS_SERVER_NAME_VARIABLE}`,
    'cluster {',
    `  name: ${NATS_CLUSTER_NAME}`,
    `  listen: "0.0.0.0:${NATS_CLUSTER_PORT}"`,
    '  # What the other servers are told to dial: this pod\'s name under nats-headless (the route certificate\'s), not its IP.',
    `  advertise: $${NATS_CLUSTER_ADVERTISE_VARIABLE}`,
    '  # Only the cluster\'s servers open routes: as this user, whose password no client has.',
    '  authorization {',
    `    user: ${quote(NATS_ROUTE_USER)}`,
    `    password: $${NATS_ROUTE_PASSWORD_VARIABLE}`,
    '    timeout: 5',
    '  }',
    `  # Every server, itself included (dropped): nats-<i>.nats-headless.<namespace>.svc.cluster.local:${NATS_CLUSTER_PORT} as the user`,
    `  # ${NATS_ROUTE_USER}, each URL with the password whole from the environment (nats-server expands no variable inside a string).`,
    '  routes: [',
    ...Array.from({ length: options.replicas }, (_, i) => `    $${natsRouteUrlVariable(i)}`),
    '  ]',
    ...routeTls,
    '}',
    '',
  ].join('\n');
}

/** Environment variable the NATS server reads a user's password from, e.g. `TMON_NATS_PASSWORD_ALERT_MANAGER`. */
export function natsPasswordVariable(user: string): string {
  return `TMON_NATS_PASSWORD_${user.toUpperCase().replace(/-/g, '_')}`;
}

const quote = (s: string) => JSON.stringify(s);
const list = (xs: string[], indent: string) => `[\n${xs.map((x) => `${indent}  ${quote(x)}`).join(',\n')}\n${indent}]`;

function permissionLines(permissions: NatsPermissions): string[] {
  return [
    `      permissions: {`,
    `        publish: { allow: ${list(permissions.publish, '        ')} }`,
    `        subscribe: { allow: ${list(permissions.subscribe, '        ')} }`,
    ...(permissions.allowResponses ? [`        allow_responses: true`] : []),
    `      }`,
  ];
}

function userBlock(user: string, permissions?: NatsPermissions): string {
  const lines = [`    {`, `      user: ${quote(user)}`, `      password: $${natsPasswordVariable(user)}`];
  if (permissions) lines.push(...permissionLines(permissions));
  lines.push(`    }`);
  return lines.join('\n');
}

function producerBlock(producer: Producer, prefix: string): string {
  return [`    {`, `      # producer ${producer.name}`, `      nkey: ${quote(producer.nkey)}`, ...permissionLines(producerPermissions(producer.name, prefix)), `    }`].join('\n');
}

/**
 * The NATS server configuration fragment (`include` it from nats-server.conf): one user per service with only
 * its own subjects, the `bootstrap` user that makes the streams and consumers, an `admin` user with every
 * permission (the `nats` CLI), and one NKEY user per producer (deploy/nats/producers.json, `pnpm nats:producer`).
 * Passwords come from the server's environment (`TMON_NATS_PASSWORD_<USER>`); producers hold their own seeds.
 */
export function renderNatsPermissions(prefix = '', producers: readonly Producer[] = []): string {
  for (const p of producers) {
    const problem = producerNameProblem(p.name, RESERVED_PRODUCER_NAMES);
    if (problem) throw new Error(`producer ${p.name}: ${problem}`);
  }
  const users = [
    ...SERVICE_NAMES.map((u) => userBlock(u, natsPermissions(u, prefix))),
    userBlock(BOOTSTRAP_USER, bootstrapPermissions(prefix)),
    userBlock('admin'),
    ...producers.map((p) => producerBlock(p, prefix)),
  ];
  return [
    '# Generated by packages/deploy-manifests (pnpm k8s:render) from the subject map of @terminusa/bus and',
    '# deploy/nats/producers.json (pnpm nats:producer). Do not edit by hand.',
    '# Included by nats.conf; set TMON_NATS_PASSWORD_<USER> in the server\'s environment, and give each service its',
    '# user in NATS_URL (nats://<service>@nats:4222) and its password in NATS_PASSWORD_FILE or NATS_PASSWORD.',
    '# Every client sets its inbox prefix to _INBOX_<user> (_INBOX_<producer> for a producer) and may read only there.',
    'authorization {',
    '  users = [',
    users.join(',\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}
