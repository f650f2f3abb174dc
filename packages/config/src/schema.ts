import { isIP } from 'node:net';
import { z } from 'zod';
import { CHANNELS } from '@terminusa/bus/alert-vocabulary';

/** A duration written as the seed writes them (`2h`, `7d`, `30s`), or a number of seconds. */
export const DurationSchema = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d+(ms|s|m|h|d|w)$/, 'expected a duration like 30s, 5m, 2h, 7d'),
]);

const seconds = (dflt: number) => z.number().int().positive().default(dflt);
/** A schema or role name as written unquoted in SQL. */
const SqlIdentifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'a lower-case SQL identifier');

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
/** One entry of a `trust proxy` list: a name proxy-addr knows, an address, or an address with a prefix length or netmask. */
function isProxyEntry(entry: string): boolean {
  if (PROXY_NAMES.has(entry)) return true;
  const [address, range, ...rest] = entry.split('/');
  const version = isIP(address ?? '');
  if (!version || rest.length) return false;
  if (range === undefined) return true;
  if (/^\d{1,3}$/.test(range)) return Number(range) <= (version === 4 ? 32 : 128);
  return version === 4 && isIP(range) === 4;
}

/**
 * Express `trust proxy` as a setting: a hop count, `false`, or addresses/CIDRs/names. Checked here, since Express
 * would only throw on the first request. A hop count written as text (`"1"`, as YAML or an env value may give it)
 * is read as a number, and `"false"` as false.
 */
const TrustProxySchema = z.preprocess(
  (v) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v === 'false' ? false : typeof v === 'string' ? v.split(',').map((e) => e.trim()).filter(Boolean) : v),
  z.union([
    z.number().int().nonnegative(),
    z.literal(false),
    z
      .array(z.string())
      .min(1, 'name at least one proxy, or set false')
      .refine((list) => list.every(isProxyEntry), 'expected addresses, CIDRs (10.0.0.0/8), loopback, linklocal or uniquelocal'),
  ], { error: (issue) => (issue.input === true || issue.input === 'true' ? 'true would trust every hop, so any client could name its own address; give the hop count or the proxies\' addresses' : undefined) }),
);
const port = (dflt: number) => z.number().int().min(0).max(65535).default(dflt);

/**
 * A URL the collector fetches (a scrape target, an HTTP probe): http or https only. `.url()` alone takes any scheme,
 * and a target of `htp://…` or `file:///…` has no origin to put its health path on: a reload that held one left
 * every later scheduler check failing, and a restart failing at start.
 */
const httpUrl = () => z.string().url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

const AlertLevelSchema = z.object({
  timeout: z.number().int().positive(),
  channels: z.array(z.enum(['all', ...CHANNELS])).min(1),
});

const ScalingSchema = z.object({
  min: z.number().int().positive(),
  max: z.number().int().positive(),
  targetCpu: z.number().int().min(1).max(100).optional(),
  targetMemory: z.number().int().min(1).max(100).optional(),
});

/** The whole suite's settings; every default is the number the design seed gives. */

/**
 * Refuses a list of named jobs (scrape targets, probes) in which a name comes twice: each is scheduled under its name,
 * so the second replaced the first, which was never run, and every check moved both.
 */
function uniqueNames(jobs: readonly { name: string }[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  jobs.forEach((job, i) => {
    if (seen.has(job.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `the name ${job.name} is taken by an earlier one; names must be unique` });
    seen.add(job.name);
  });
}

export const ConfigSchema = z.object({
  nats: z
    .object({
      url: z.string().min(1).default('nats://127.0.0.1:4222'),
      /**
       * Password of the user named in `url` (`nats://processor@nats:4222`), usually from a secret file
       * (`NATS_PASSWORD_FILE`); loadConfig writes it into `url`, where the runtime's `natsServers` finds it.
       */
      password: z.string().min(1).optional(),
      /** JetStream replicas of the suite's streams and consumers: 1 on one server, 3 in a cluster. */
      replicas: z.number().int().min(1).max(5).default(1),
      /** Namespace for subjects, streams and consumers; empty in production, unique per test. */
      prefix: z.string().regex(/^([A-Za-z0-9_-]+)?$/, 'letters, digits, _ and - only').default(''),
      /**
       * Whether a service creates and updates the streams and its durable consumer at start (local development,
       * tests: one NATS user or none). false where NATS users have least privilege (compose, k8s): the NATS
       * bootstrap (`tmon-nats-bootstrap`, a Job / one-shot service) creates them, and a service only binds to
       * them, waiting until they exist. docs/deploy.md §4.
       */
      manageStreams: z.boolean().default(true),
      /** TLS to NATS: PEM files of the CA that signed the server's certificate and, for mutual TLS, the client's certificate and key. */
      tls: z
        .object({ ca: z.string().min(1).optional(), cert: z.string().min(1).optional(), key: z.string().min(1).optional() })
        .refine((t) => (t.cert === undefined) === (t.key === undefined), 'set cert and key together (mutual TLS), or neither')
        .optional(),
    })
    .prefault({}),
  database: z
    .object({
      url: z.string().min(1).default('postgres://postgres@127.0.0.1:5432/terminusa'),
      /**
       * Password of the role named in `url`, usually from a secret file (`DATABASE_PASSWORD_FILE`); loadConfig
       * writes it into `url`, so every connection (pool, restore drill) carries it.
       */
      password: z.string().min(1).optional(),
      schema: SqlIdentifier.default('public'),
      poolSize: z.number().int().positive().default(10),
      /**
       * Whether this service creates and migrates the schema (and grants the roles of `roles` their tables): true
       * for the owner role (a checkout's `pnpm start`, the one-shot `db-migrate` of compose and k8s); false for a
       * service logging in as a role of its own, which cannot run DDL and waits instead.
       */
      migrate: z.boolean().default(true),
      /** Seconds a service with `migrate: false` waits for the owner's migrations and grants before its start fails. */
      migrationTimeout: seconds(120),
      /**
       * The login roles of the services that do not log in as the owner (deploy/postgres/roles.sql makes them); the
       * owner grants each the tables its code uses (packages/database service-grants.ts), if the role exists.
       */
      roles: z
        .object({
          apiGateway: SqlIdentifier.default('terminusa_gateway'),
          alertManager: SqlIdentifier.default('terminusa_alert_manager'),
          storage: SqlIdentifier.default('terminusa_storage'),
          backup: SqlIdentifier.default('terminusa_backup'),
        })
        .prefault({}),
    })
    .prefault({}),
  redis: z
    .object({
      url: z.string().min(1).default('redis://127.0.0.1:6379'),
      /** Password of Redis (`requirepass`, or of the ACL user named in `url`), e.g. from `REDIS_PASSWORD_FILE`; loadConfig writes it into `url`. */
      password: z.string().min(1).optional(),
      prefix: z.string().default('tmon:'),
    })
    .prefault({}),
  dataDir: z.string().min(1).default('./data'),
  /** The config file the settings were read from, if any (set by loadConfig). */
  configFile: z.string().optional(),
  gateway: z
    .object({
      port: port(8080),
      host: z.string().default('0.0.0.0'),
      /**
       * Express `trust proxy`: which hops in front of the gateway may name the client in X-Forwarded-For, so that
       * rate limits and the login lock-out count the client's address, not the proxy's. A hop count (`1`: the
       * Kubernetes Ingress controller); addresses, CIDRs and the names `loopback`, `linklocal`, `uniquelocal`
       * (comma-separated or a list); or `false`: no hop, the connection's peer is the client. Never `true`, which
       * would take the left-most X-Forwarded-For entry, written by the client itself. docs/deploy.md §7.
       */
      trustProxy: TrustProxySchema.prefault('loopback'),
      /** The markdown pages served at /docs/<page>. */
      docsDir: z.string().default('docs'),
      /** Origins allowed by CORS; empty: CORS off. */
      corsOrigins: z.array(z.string()).default([]),
      /** Requests per second per token or API key, and per client address, shared by all gateway replicas. */
      rateLimit: z
        .object({
          perPrincipal: z.number().int().positive().default(100),
          perAddress: z.number().int().positive().default(200),
          /** Login attempts per minute per address, whatever their outcome. */
          loginPerMinute: z.number().int().positive().default(20),
        })
        .prefault({}),
      /** The Prometheus query API (`/api/v1/query`, `/api/v1/query_range`, …) that Grafana reads through. */
      promql: z
        .object({
          /** Longest a query may run, at the engine and at the gateway; a request's own `timeout` may only shorten it. */
          timeout: DurationSchema.default('30s'),
          /** Most points per series a range query may ask for, (end - start) / step, as Prometheus' 11,000. */
          maxPoints: z.number().int().positive().default(11_000),
          /** Most samples (points of every series) in one query answer; the gateway reads no more of an answer than they take. */
          maxSamples: z.number().int().positive().default(1_000_000),
          /**
           * Engine calls one gateway replica makes at once; the others wait their turn within their timeout. The engine
           * runs few searches at once (the single node twice its cores, `-search.maxConcurrentRequests`) and the
           * alert-manager's PromQL rules and the storage's exports need some: keep replicas × this below that.
           */
          maxConcurrent: z.number().int().positive().default(2),
        })
        .prefault({}),
      /** The live stream (`GET /ws`): connection caps per gateway replica, and how often open connections' credentials are checked again. */
      live: z
        .object({
          /** Open connections one replica takes, authenticated or not; more are answered 503. */
          maxConnections: z.number().int().positive().default(2000),
          /** Open connections of one user (all its tokens) or one API key on one replica; more are answered 429 (or closed with 4429). */
          maxConnectionsPerPrincipal: z.number().int().positive().default(20),
          /**
           * Open connections from one client address (an IPv6 /64) that have not authenticated yet; more upgrades without
           * a credential are answered 429: the request rate alone let two addresses hold every connection for auth's 5 s.
           */
          maxUnauthenticatedPerAddress: z.number().int().positive().default(10),
          /** Seconds between two checks of every open connection's credential, the safety net behind revocation events. */
          recheckInterval: seconds(30),
        })
        .prefault({}),
    })
    .prefault({}),
  ops: z
    .object({
      /** Port of the per-service ops server (/health, /metrics); unset: the service's own default, 0: a free one. */
      port: z.number().int().min(0).max(65535).optional(),
      host: z.string().default('0.0.0.0'),
      /**
       * The address other hosts reach this instance's ops server at, advertised in discovery (`POD_IP`: Kubernetes'
       * downward API sets it, since a Deployment pod's name does not resolve); unset: its host name.
       */
      address: z.string().min(1).optional(),
      /**
       * Bearer token a scraper shows to read `/metrics` (`OPS_METRICS_TOKEN`); the collector shows it to the suite's
       * own instances. Unset: `/metrics` answers loopback clients only, so nothing off the host reads it unasked.
       */
      metricsToken: z.string().min(32, 'at least 32 characters').optional(),
    })
    .prefault({}),
  log: z
    .object({
      level: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).default('info'),
      file: z.string().optional(),
    })
    .prefault({}),
  /** Seconds a service may spend draining on SIGTERM before it exits anyway. */
  shutdownTimeout: seconds(10),
  collection: z
    .object({
      intervals: z.object({ system: seconds(60), app: seconds(30), custom: seconds(300) }).prefault({}),
      /** Static tags added to every metric this host's collector publishes. */
      tags: z.record(z.string(), z.string()).default({}),
      /**
       * Which jobs this collector runs: \`all\`; \`system\` (node-level, one per host, like node_exporter's
       * DaemonSet); \`jobs\` (app scrapes and custom probes, spread over the replicas).
       */
      mode: z.enum(['all', 'system', 'jobs']).default('all'),
      /** Prometheus-text targets scraped every \`app\` interval (the seed's INTERNAL_API services). */
      targets: z
        .array(
          z.strictObject({
            name: z.string().regex(/^[A-Za-z0-9_-]+$/),
            // fetch refuses a URL with credentials, and its error (which the scrape logs) quotes the whole URL.
            url: httpUrl().refine((u) => !/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(u), 'no user or password in the URL: put a bearer token in credentialsFile'),
            /** Path of its health check, probed with the LOAD_BALANCE timeout. */
            healthPath: z.string().default('/health'),
            tags: z.record(z.string(), z.string()).default({}),
            /**
             * A file holding the bearer token the target wants for its metrics (Prometheus' `authorization:
             * credentials_file`), read at every scrape so a rotated token is picked up; the token itself is never
             * put in the job queue.
             */
            credentialsFile: z.string().min(1).optional(),
          }),
        )
        .superRefine(uniqueNames)
        .default([]),
      /** Scrape the suite's own services found through discovery as well. */
      scrapeSelf: z.boolean().default(true),
      /**
       * Most bytes of one target's answer and most samples in it (Prometheus' body_size_limit and sample_limit): a
       * scrape past either fails (up 0) rather than hold the collector's memory; a million-series exporter needs more.
       */
      scrapeLimits: z.strictObject({ bodyBytes: z.number().int().positive().default(64 * 1024 * 1024), samples: z.number().int().positive().default(500_000) }).prefault({}),
      /** HTTP and TCP probes run every \`custom\` interval. */
      probes: z
        .array(
          z.discriminatedUnion('kind', [
            z.strictObject({
              kind: z.literal('http'),
              name: z.string().regex(/^[A-Za-z0-9_-]+$/),
              url: httpUrl(),
              expectStatus: z.number().int().default(200),
              bodyMatch: z.string().optional(),
              tags: z.record(z.string(), z.string()).default({}),
            }),
            z.strictObject({
              kind: z.literal('tcp'),
              name: z.string().regex(/^[A-Za-z0-9_-]+$/),
              host: z.string(),
              port: z.number().int().min(1).max(65535),
              tags: z.record(z.string(), z.string()).default({}),
            }),
          ]),
        )
        .superRefine(uniqueNames)
        .default([]),
    })
    .prefault({}),
  /** Seed CORE_CONFIG: worker concurrency, in-flight queue size, batch size and per-step timeout (s). */
  core: z
    .object({
      workers: z.number().int().positive().default(4),
      queueSize: z.number().int().positive().default(1000),
      batchSize: z.number().int().positive().default(100),
      timeout: seconds(30),
      /**
       * A queued message (INGEST, SAMPLES) whose handling failed this many times on its own, while other messages were
       * handled between the failures, goes to the dead letters with the error rather than back to the queue: the
       * failure is the message's, and retrying it would only cost work until the stream let it go unseen.
       */
      deadLetterAfter: z.number().int().positive().default(5),
    })
    .prefault({}),
  ingest: z
    .object({
      maxMessageBytes: z.number().int().positive().default(512 * 1024),
      maxSamplesPerMessage: z.number().int().positive().default(10_000),
      /** Most bytes of one remote_write or OTLP request the gateway takes, compressed and again decompressed. */
      maxRequestBytes: z.number().int().positive().default(16 * 1024 * 1024),
      /**
       * Most samples one remote_write or OTLP request may make, counted as it is read (413 past it): Prometheus sends
       * 500–2,000 a request, an OpenTelemetry Collector batch of 8,192 histogram points of 20 buckets 190,000; a
       * hostile 16 MiB body could make 16 million (1-byte exponential histogram buckets), too many to hold.
       */
      maxSamplesPerRequest: z.number().int().positive().default(500_000),
      /**
       * Decompressed bytes of remote_write and OTLP requests one gateway decodes at once; past it a request is pushed
       * back (503 or 429, Retry-After) for its sender to retry: a body of empty samples makes ~25 times its size in
       * objects. A request whose tags, written out once per sample in its messages, are more bytes holds those instead.
       * One request is always taken; Prometheus' requests of 2,000 samples are ~100 KB.
       */
      maxDecodingBytes: z.number().int().positive().default(32 * 1024 * 1024),
      /** Samples per INGEST message the suite publishes itself: remote_write and OTLP requests, recording rules' results. */
      publishedMessageSamples: z.number().int().positive().default(1000),
      /** Pushed requests are refused (429, Retry-After) while the processor has more INGEST messages than this unhandled. */
      maxBacklogMessages: z.number().int().positive().default(20_000),
      /** A sample may be at most this far in the future (clock skew). */
      maxFutureMs: z.number().int().nonnegative().default(10 * 60_000),
      /** Cardinality guard: most series per metric name, and in total; new series past a limit are refused. */
      maxSeriesPerMetric: z.number().int().positive().default(10_000),
      maxSeriesTotal: z.number().int().positive().default(1_000_000),
      maxTags: z.number().int().positive().default(32),
      maxTagValueLength: z.number().int().positive().default(256),
    })
    .prefault({}),
  storage: z
    .object({
      /** The time-series engine that holds raw samples (VictoriaMetrics' HTTP API). */
      engine: z
        .object({
          /** Where reads go, and writes unless `writeUrl` is set (`VM_URL`); nothing answering here at `pnpm start` starts an embedded one. */
          url: z.string().url().default('http://127.0.0.1:8428'),
          /** Where writes go when they go elsewhere than reads, e.g. vminsert of the cluster edition (`VM_WRITE_URL`). */
          writeUrl: z.string().url().optional(),
          /**
           * The user of the engine's HTTP Basic auth (its `-httpAuth.username`, `VM_USERNAME`); sent only with a
           * `password`. An engine reachable by anything but the suite needs both: without them anyone who reaches its
           * port reads, writes and deletes every sample.
           */
          username: z.string().min(1).default('terminusa'),
          /** Its password (`-httpAuth.password`; `VM_PASSWORD` or `VM_PASSWORD_FILE`); unset, no credentials are sent (a loopback engine). */
          password: z.string().min(1).optional(),
          /**
           * The engine's `-snapshotAuthKey` (`VM_SNAPSHOT_KEY` or `VM_SNAPSHOT_KEY_FILE`), held by the storage and the
           * backup, the two that take snapshots: a snapshot pins every part of the engine on disk until it is deleted.
           */
          snapshotKey: z.string().min(1).optional(),
          /**
           * How the storage knows a batch is on the engine's disk before it acks: `snapshot` (single node: a snapshot
           * flushes every in-memory part to disk, fsynced) or `replication` (cluster: vminsert has taken the rows, still
           * in its memory on their way to replicationFactor vmstorage nodes: a vminsert killed within about a second
           * loses them; docs/deploy.md §6).
           */
          durability: z.enum(['snapshot', 'replication']).default('snapshot'),
          /**
           * Fewest milliseconds between two snapshots (`durability: snapshot`); batches written meanwhile wait for the
           * next one together. Each snapshot costs the engine about 20 ms of CPU (hard links of every part), so 4 a second.
           */
          syncIntervalMs: z.number().int().nonnegative().default(250),
          /**
           * Snapshots older than this are deleted by the storage's retention runs (`durability: snapshot`): the storage
           * and the backup delete each one they make, but a process killed in between leaves it, and a snapshot keeps
           * every part it links from being merged away or dropped by the engine's retention, until its disk is full.
           * Longer than any backup takes to read its snapshot (one read past it fails and is taken again).
           */
          snapshotMaxAge: DurationSchema.default('24h'),
          /** Value of the label `tmon_ns` put on every series written and required of every read; empty in production, unique per test (`VM_NAMESPACE`). */
          namespace: z.string().regex(/^([A-Za-z0-9_-]+)?$/, 'letters, digits, _ and - only').default(''),
          /** Milliseconds an engine request may take before it fails (the batch is then redelivered). */
          timeoutMs: z.number().int().positive().default(30_000),
          /**
           * How PromQL's `rate`, `increase` and `delta` are computed, in the gateway's query API and in PromQL rules:
           * `engine` (MetricsQL's: from the last sample before the window, not extrapolated) or `prometheus`
           * (Prometheus 2's extrapolation to the window's edges, the same answers as Prometheus; several times the
           * engine's work per rate). docs/prometheus-api.md#rate-increase-and-delta
           */
          rates: z.enum(['engine', 'prometheus']).default('engine'),
          /**
           * Whether a PromQL range's or subquery's window takes a sample or point exactly at its start: `excluded`
           * (`(t − d, t]`, the engine's and Prometheus 3's) or `included` (`[t − d, t]`, Prometheus 2's, whose
           * subqueries then count one point more when t − d falls on their step). docs/prometheus-api.md#window-start
           */
          windowStart: z.enum(['excluded', 'included']).default('excluded'),
        })
        .prefault({}),
      /**
       * How long a minute must have been over before its rollups are computed from the engine; samples of a
       * minute that arrive later mark it to be computed again, so this only trades recomputation for freshness.
       */
      rollupSettle: DurationSchema.default('30s'),
      /** Seconds between rollup runs (the 1m/5m/1h/1d tiers computed from the engine). */
      foldInterval: z.number().positive().default(5),
      /**
       * Batches a storage replica writes at once. Each waits, after its import, for the engine's next sync
       * (`engine.syncIntervalMs`), so more batches keep the engine fed meanwhile.
       */
      writers: z.number().int().positive().default(16),
      /** Seconds between retention runs (archive, then drop past-retention partitions). */
      retentionInterval: z.number().positive().default(600),
      retention: z
        .object({ raw: DurationSchema.default('1d'), hourly: DurationSchema.default('7d'), daily: DurationSchema.default('30d') })
        .prefault({}),
    })
    .prefault({}),
  aggregation: z
    .object({
      intervals: z.array(z.enum(['1m', '5m', '1h', '1d'])).default(['1m', '5m', '1h', '1d']),
      functions: z.array(z.enum(['avg', 'min', 'max', 'sum'])).default(['avg', 'min', 'max', 'sum']),
      retention: z.record(z.string(), DurationSchema).default({ '1m': '2h', '5m': '24h', '1h': '7d', '1d': '90d' }),
    })
    .prefault({}),
  alerts: z
    .object({
      /** The YAML rules file; reloaded when it changes. */
      rulesFile: z.string().optional(),
      /** Seconds alerts sharing group labels are gathered into one notification; 0 sends each at once. */
      groupWait: z.number().nonnegative().default(2),
      /** Labels that make alerts one group (one notification). */
      groupBy: z.array(z.string()).default(['alertname']),
      /** A firing critical alert suppresses warnings and infos that share these labels. */
      inhibitEqual: z.array(z.string()).default(['host']),
      /** Attempts per delivery before it is recorded as failed (exponential backoff in between). */
      deliveryAttempts: z.number().int().positive().default(5),
      /** Milliseconds of the first retry delay; it doubles each attempt. */
      deliveryBackoffMs: z.number().int().positive().default(1000),
      /** Seconds a channel's open circuit breaker waits before trying the receiver again (deliveries wait too). */
      breakerResetSeconds: z.number().positive().default(30),
      /** Seconds between evaluations of timers (`for`, no-data, re-notification, keep_firing_for). */
      sweepInterval: z.number().positive().default(1),
      /**
       * Seconds after its last sample (or its window, if longer) a threshold rule's pending or firing alert ends: a series
       * that stopped reporting (a host shut down) resolves its alert, as a stale series' does in Prometheus (5-minute lookback).
       */
      staleAfter: z.number().positive().default(300),
      /**
       * Seconds between looks at firing alerts whose notification a silence or an inhibition stopped: one no longer
       * suppressed (the silence ended, the critical alert resolved) is notified then, not at its re-notification time.
       */
      suppressedRecheck: z.number().positive().default(30),
      channels: z
        .object({
          slack: z.object({ webhookUrl: z.string().url(), channel: z.string().default('#monitoring') }).optional(),
          email: z
            .object({
              host: z.string().default('smtp.example.com'),
              port: z.number().int().default(587),
              /** true: TLS from the first byte (port 465); false: STARTTLS, required unless `requireTls` is off. */
              secure: z.boolean().default(false),
              requireTls: z.boolean().default(true),
              user: z.string().optional(),
              password: z.string().optional(),
              from: z.string().default('terminusa-monitoring@localhost'),
              to: z.array(z.string()).min(1),
            })
            .optional(),
          webhook: z.object({ url: z.string().url(), secret: z.string().min(16, 'at least 16 characters') }).optional(),
          dashboard: z.object({ enabled: z.boolean().default(true) }).prefault({}),
        })
        .prefault({}),
      levels: z
        .object({
          critical: AlertLevelSchema.default({ timeout: 300, channels: ['all'] }),
          warning: AlertLevelSchema.default({ timeout: 1800, channels: ['email', 'slack'] }),
          info: AlertLevelSchema.default({ timeout: 3600, channels: ['dashboard'] }),
        })
        .prefault({}),
    })
    .prefault({}),
  auth: z
    .object({
      tokenExpiry: seconds(3600),
      refreshWindow: seconds(300),
      /** Seconds a session lasts after sign-in whatever its refreshes; no token of it outlives this (12 h). */
      sessionLifetime: seconds(43_200),
      /** Failed logins for one username from one client address before that pair is locked out (others are not). */
      maxAttempts: z.number().int().positive().default(5),
      /** Failed logins from one client address, whatever the usernames, before every login from it is locked out. */
      maxAttemptsPerAddress: z.number().int().positive().default(20),
      /**
       * Seconds failures are counted for, from the first; once a limit above is reached, that pair or address is
       * refused (429) for this long from the failure that reached it.
       */
      lockout: seconds(900),
      /** Password of the first admin; generated into <dataDir>/admin-password when unset. */
      adminPassword: z.string().min(12, 'at least 12 characters').optional(),
      /** HMAC key for tokens; generated into <dataDir>/jwt-secret when unset. */
      jwtSecret: z.string().min(32, 'at least 32 characters').optional(),
    })
    .prefault({}),
  cache: z
    .object({
      metrics: z.object({ ttl: seconds(3600), maxSize: z.string().default('1GB') }).prefault({}),
      alerts: z.object({ ttl: seconds(86400), maxSize: z.string().default('100MB') }).prefault({}),
    })
    .prefault({}),
  scaling: z
    .object({
      collectors: ScalingSchema.default({ min: 2, max: 10, targetCpu: 70 }),
      processors: ScalingSchema.default({ min: 2, max: 8, targetMemory: 80 }),
    })
    .prefault({}),
  loadBalance: z
    .object({
      algorithm: z.enum(['round_robin']).default('round_robin'),
      healthCheck: z.string().default('/health'),
      timeout: seconds(5),
    })
    .prefault({}),
  backup: z
    .object({
      /**
       * Cron patterns of the scheduled backups. No incremental on the full's day: at the same moment on two replicas
       * the incremental could build on the day before and the week's full never became a base.
       */
      schedule: z.object({ full: z.string().default('0 0 * * 0'), incremental: z.string().default('0 0 * * 1-6') }).prefault({}),
      /** Days a backup is kept (a full stays while a kept incremental depends on it). */
      retention: z.object({ full: seconds(90), incremental: seconds(30) }).prefault({}),
      /** Where backups are written; default `<dataDir>/backups`. */
      dir: z.string().optional(),
      /** The keyring file (mode 0600); default `<dataDir>/backup-keyring.json`. */
      keyring: z.string().optional(),
      /**
       * The signing key file (`tmon-backup signing-key create`), read only: when set, it signs and checks the
       * manifests and the keyring holds data keys only; unset, the keyring's own signing key does (one file).
       */
      signingKey: z.string().min(1).optional(),
      /** Uncompressed bytes of table data per chunk. */
      chunkBytes: z.number().int().positive().default(16 * 1024 * 1024),
      /** Configuration files saved with every backup (the config file itself is always included when set). */
      files: z.array(z.string()).default([]),
      /**
       * The engine's data directory (its -storageDataPath) as this service sees it, e.g. /vm-storage in compose:
       * every backup then holds an engine snapshot read from `<dir>/snapshots/` (single node, durability snapshot).
       * Empty: backups hold no engine data.
       */
      engineDataDir: z.string().default(''),
    })
    .prefault({}),
  recovery: z
    .object({
      verification: z.boolean().default(true),
      parallelRestore: z.boolean().default(true),
      batchSize: z.number().int().positive().default(1000),
    })
    .prefault({}),
  encryption: z
    .object({
      algorithm: z.enum(['AES-256-GCM']).default('AES-256-GCM'),
      /** Days after which the backup data key is replaced by a new one. */
      keyRotation: seconds(90),
      backupEncryption: z.boolean().default(true),
    })
    .prefault({}),
});

/** The validated, defaulted configuration every service receives. */
export type Config = z.infer<typeof ConfigSchema>;
