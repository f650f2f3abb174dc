import { createHash } from 'node:crypto';
import { DaemonSet, Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import type { IContainer, IEnvVar, IPodSecurityContext, IPodTemplateSpec, IProbe, ISecurityContext, IVolume } from 'kubernetes-models/v1';
import type { INetworkPolicyIngressRule } from 'kubernetes-models/networking.k8s.io/v1';
import { SERVICE_NAMES, type Config, type ServiceName } from '@terminusa/config';
import { BOOTSTRAP_USER } from '@terminusa/runtime';
import {
  NATS_CLIENT_PORT,
  NATS_CLUSTER_ADVERTISE_VARIABLE,
  NATS_CLUSTER_CONFIG,
  NATS_CLUSTER_PORT,
  NATS_CONFIG_DIR,
  NATS_MONITOR_PORT,
  NATS_ROUTE_PASSWORD_VARIABLE,
  NATS_ROUTE_USER,
  NATS_SERVER_NAME_VARIABLE,
  NATS_USERS,
  natsPasswordVariable,
  natsRouteUrlVariable,
  renderNatsClusterConfig,
  renderNatsPermissions,
  renderNatsServerConfig,
  shippedProducers,
} from './nats-permissions.ts';
import { OPS_PORTS, type Overlay, type TimeSeriesEngine } from './overlays.ts';
import { redisPasswordKey } from './redis-acl.ts';
import {
  clusterManifests,
  ENGINE_CREDENTIALS,
  ENGINE_SECRET_NAME,
  engineBackupAccess,
  SINGLE_NODE_NAME,
  singleNodeManifests,
  VM_PORT,
  VM_WRITER,
  VMINSERT_PORT,
  VMSELECT_PORT,
  VMSTORAGE_INSERT_PORT,
  VMSTORAGE_SELECT_PORT,
} from './victoria-metrics.ts';
import { ENGINE_CLIENTS, engineEnv, engineGrants, GATE_NAME, GATE_PORT, gateClients, gateManifests, gateUsers } from './engine-gate.ts';

/** Any rendered Kubernetes object: kubernetes-models objects validate against the API schemas. */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  validate(): void;
  toJSON(): unknown;
}

/** One rendered file: its name in the overlay's directory and the objects in it. */
export interface ManifestFile {
  readonly file: string;
  readonly objects: readonly Manifest[];
  /** A template to fill in and apply by hand, never part of `kubectl apply -k` (the Secrets' placeholders). */
  readonly template?: boolean;
}

export const CONFIG_MAP_NAME = 'terminusa-config';
/** The gateway's own secrets (ADMIN_PASSWORD, JWT_SECRET): no other service can mint tokens or sign in as admin. */
export const GATEWAY_SECRET_NAME = 'terminusa-gateway';
/** The token that reads every service's /metrics (OPS_METRICS_TOKEN): the services and whatever scrapes them hold it. */
export const METRICS_SECRET_NAME = 'terminusa-metrics';
/**
 * The PostgreSQL passwords, each as its holder's DATABASE_PASSWORD: the key DATABASE_PASSWORD (of DATABASE_ROLE) for
 * the db-migrate Job alone, and the key of its own role for each service that opens the database (OWN_DATABASE_ROLES).
 */
export const DATABASE_SECRET_NAME = 'terminusa-database';
/** `REDIS_PASSWORD_<SERVICE>`: each service's Redis ACL user's password (deploy/redis/acl-rules.conf), each only its own. */
export const REDIS_SECRET_NAME = 'terminusa-redis';
/**
 * The NATS users' passwords, `TMON_NATS_PASSWORD_<USER>`: all of them in the NATS server's environment, each
 * service its own as NATS_PASSWORD; and the cluster routes' password, TMON_NATS_ROUTE_PASSWORD, the NATS servers' only.
 */
export const NATS_SECRET_NAME = 'terminusa-nats-users';
/**
 * The PostgreSQL role the db-migrate Job logs in as: owner of the suite's database and schema, not a superuser
 * (deploy/postgres/roles.sql creates it); it migrates and grants the services' roles. No service logs in as it.
 */
export const DATABASE_ROLE = 'terminusa';
/**
 * The services that log in as a role of their own, without DDL (docs/deploy.md §8): its `database.roles` setting and
 * the Secret key (the variable roles.sql reads) of its password.
 */
export const OWN_DATABASE_ROLES: Readonly<Partial<Record<ServiceName, { setting: keyof Config['database']['roles']; passwordKey: string }>>> = {
  'api-gateway': { setting: 'apiGateway', passwordKey: 'GATEWAY_DATABASE_PASSWORD' },
  'alert-manager': { setting: 'alertManager', passwordKey: 'ALERT_MANAGER_DATABASE_PASSWORD' },
  // Partitions through the owner's SECURITY DEFINER functions (migration 12), temporary tables with TEMP.
  storage: { setting: 'storage', passwordKey: 'STORAGE_DATABASE_PASSWORD' },
  // Every table to copy out and merge back, TEMP, CREATEDB for restore drills; no DDL on the suite's tables.
  backup: { setting: 'backup', passwordKey: 'BACKUP_DATABASE_PASSWORD' },
};
/** Set on the services of OWN_DATABASE_ROLES: their role cannot migrate, so they wait for the owner's migrations and grants. */
export const NO_MIGRATE = { name: 'TMON_DATABASE__MIGRATE', value: 'false' } as const;

/** The role a service that uses PostgreSQL logs in as. */
export function databaseRole(name: ServiceName, config: Readonly<Config>): string {
  const own = OWN_DATABASE_ROLES[name];
  return own ? config.database.roles[own.setting] : DATABASE_ROLE;
}

/** The key of the database Secret holding a service's DATABASE_PASSWORD. */
export function databasePasswordKey(name: ServiceName): string {
  return OWN_DATABASE_ROLES[name]?.passwordKey ?? 'DATABASE_PASSWORD';
}
/** The services that open PostgreSQL (openDatabase in their code; manifests.test.ts checks the list against the sources). */
export const DATABASE_USERS: readonly ServiceName[] = ['storage', 'alert-manager', 'backup', 'api-gateway'];
/** The services that open Redis (all six: caches, rate limits, BullMQ queues, the collector's system state). */
export const REDIS_USERS: readonly ServiceName[] = SERVICE_NAMES;
/** Where the backup service keeps its keyring in a pod: a volume of its own, apart from the backups it encrypts. */
export const BACKUP_KEYS_DIR = '/keys';
/**
 * The Secret that holds the backup signing key (key `signing-key.json`, made by `tmon-backup signing-key create`),
 * apart from the keyring; optional, so a cluster without it keeps the keyring's own signing key.
 */
export const BACKUP_SIGNING_SECRET_NAME = 'terminusa-backup-signing';
/** Where the backup pod mounts that Secret, read-only; `backup.signingKey` names the file in it to use it. */
export const BACKUP_SIGNING_DIR = '/signing';
/** nats.conf and permissions.conf of the NATS StatefulSet (deploy/nats/), and nats-cluster.conf, which it runs. */
export const NATS_CONFIG_MAP_NAME = 'nats-config';
/** What the Secret template holds instead of real values; replace before applying. */
export const SECRET_PLACEHOLDER = 'CHANGE_ME';
/**
 * The gateway's `gateway.trustProxy` here: one hop, the Ingress controller (ingress-nginx), which proxies to the
 * gateway's pods and, in its default configuration (use-forwarded-headers off), sets X-Forwarded-For to the one
 * address it took the connection from. The gateway takes that last entry; whatever a client wrote before it is
 * ignored. A hop count rather than the controller's addresses, which differ with every cluster's pod network.
 * Clients inside the cluster that reach the gateway's Service directly are trusted alike (docs/deploy.md §7).
 */
export const GATEWAY_TRUST_PROXY = { name: 'TMON_GATEWAY__TRUST_PROXY', value: '1' } as const;
const PART_OF = 'terminusa-monitoring';
const NATS_REPLICAS = 3;

function labels(component: string): Record<string, string> {
  return { 'app.kubernetes.io/name': component, 'app.kubernetes.io/part-of': PART_OF };
}
const selector = (component: string) => ({ 'app.kubernetes.io/name': component });
const meta = (o: Overlay, name: string, component = name) => ({ name, namespace: o.namespace, labels: { ...labels(component), 'terminusa.io/overlay': o.name } });

/** A URL of the configuration with its host swapped for an in-cluster Service, any password removed and, if given, another user. */
function inCluster(url: string, host: string, user?: string): string {
  const u = new URL(url);
  u.hostname = host;
  u.password = '';
  if (user !== undefined) u.username = user;
  return u.toString().replace(/\/$/, '');
}

function namespace(o: Overlay): Namespace {
  return new Namespace({ metadata: { name: o.namespace, labels: { 'app.kubernetes.io/part-of': PART_OF } } });
}

function configMap(o: Overlay, config: Readonly<Config>): ConfigMap {
  return new ConfigMap({
    metadata: meta(o, CONFIG_MAP_NAME, 'config'),
    data: {
      // NATS_URL and REDIS_URL (with the service's own user), DATABASE_URL and the passwords are set per
      // Deployment, for the services that use them.
      DATA_DIR: '/data',
      LOG_LEVEL: o.logLevel,
      SHUTDOWN_TIMEOUT: String(config.shutdownTimeout),
      // Every stream and consumer on all three NATS servers, so the loss of one loses nothing.
      TMON_NATS__REPLICAS: String(NATS_REPLICAS),
      // The services' NATS users may not create streams or consumers: the nats-bootstrap Job does, the services bind.
      TMON_NATS__MANAGE_STREAMS: 'false',
      // The alert rules shipped in the image (BackupFailed, HostSilent, HostDiskFull), as compose loads them: without
      // them a failing backup paged nobody.
      ALERT_RULES_FILE: 'deploy/config/alert-rules.yaml',
    },
  });
}

/** One secret a service gets: the variable it reads, and the Secret and key that hold it. */
export interface SecretGrant {
  readonly env: string;
  readonly secret: string;
  readonly key: string;
}

/** Every secret a service reads, and only those: its own NATS password, the metrics token and whatever it opens. */
export function secretGrants(name: ServiceName, engine: Pick<TimeSeriesEngine, 'edition'> = { edition: 'single-node' }): SecretGrant[] {
  const grants: SecretGrant[] = [
    { env: 'NATS_PASSWORD', secret: NATS_SECRET_NAME, key: natsPasswordVariable(name) },
    { env: 'OPS_METRICS_TOKEN', secret: METRICS_SECRET_NAME, key: 'OPS_METRICS_TOKEN' },
  ];
  if (DATABASE_USERS.includes(name)) grants.push({ env: 'DATABASE_PASSWORD', secret: DATABASE_SECRET_NAME, key: databasePasswordKey(name) });
  if (REDIS_USERS.includes(name)) grants.push({ env: 'REDIS_PASSWORD', secret: REDIS_SECRET_NAME, key: redisPasswordKey(name) });
  grants.push(...engineGrants(engine, name));
  if (name === 'api-gateway') {
    grants.push({ env: 'ADMIN_PASSWORD', secret: GATEWAY_SECRET_NAME, key: 'ADMIN_PASSWORD' }, { env: 'JWT_SECRET', secret: GATEWAY_SECRET_NAME, key: 'JWT_SECRET' });
  }
  return grants;
}

function secrets(o: Overlay): Secret[] {
  const placeholder = (name: string, component: string, keys: readonly string[]) =>
    new Secret({ metadata: meta(o, name, component), type: 'Opaque', stringData: Object.fromEntries(keys.map((k) => [k, SECRET_PLACEHOLDER])) });
  return [
    placeholder(GATEWAY_SECRET_NAME, 'api-gateway', ['ADMIN_PASSWORD', 'JWT_SECRET']),
    placeholder(METRICS_SECRET_NAME, 'metrics', ['OPS_METRICS_TOKEN']),
    placeholder(DATABASE_SECRET_NAME, 'postgres', ['DATABASE_PASSWORD', ...Object.values(OWN_DATABASE_ROLES).map((r) => r.passwordKey)]),
    placeholder(REDIS_SECRET_NAME, 'redis', REDIS_USERS.map(redisPasswordKey)),
    placeholder(ENGINE_SECRET_NAME, SINGLE_NODE_NAME, [...ENGINE_CREDENTIALS.map((c) => c.key), ...gateUsers(o.timeSeries).map((u) => u.passwordKey)]),
    new Secret({
      metadata: meta(o, NATS_SECRET_NAME, 'nats'),
      type: 'Opaque',
      stringData: Object.fromEntries([...NATS_USERS.map(natsPasswordVariable), NATS_ROUTE_PASSWORD_VARIABLE].map((k) => [k, SECRET_PLACEHOLDER])),
    }),
  ];
}

/** Every pod of the suite: its image's unprivileged user, the runtime's seccomp profile. */
const POD_SECURITY: IPodSecurityContext = { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } };

const RESTRICTED: ISecurityContext = {
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
};

function healthProbe(path: string, port: string, config: Readonly<Config>, failureThreshold: number): IProbe {
  return { httpGet: { path, port }, timeoutSeconds: config.loadBalance.timeout, periodSeconds: 10, failureThreshold };
}

/** The liveness, readiness and startup probes of a service's ops port (`/health/live`, `/health/ready`). */
function opsProbes(config: Readonly<Config>): Pick<IContainer, 'livenessProbe' | 'readinessProbe' | 'startupProbe'> {
  return {
    livenessProbe: healthProbe('/health/live', 'ops', config, 3),
    readinessProbe: healthProbe('/health/ready', 'ops', config, 3),
    startupProbe: healthProbe('/health/live', 'ops', config, 30),
  };
}

function ports(name: ServiceName, config: Readonly<Config>) {
  const ops = [{ name: 'ops', containerPort: OPS_PORTS[name], protocol: 'TCP' as const }];
  return name === 'api-gateway' ? [{ name: 'http', containerPort: config.gateway.port, protocol: 'TCP' as const }, ...ops] : ops;
}

/** The backup service's volumes: the backups and, apart from them, the keyring that decrypts and signs them. */
function backupVolumeClaims(o: Overlay): PersistentVolumeClaim[] {
  // ReadWriteMany: every replica writes backups and reads the keyring another one rotated.
  const claim = (name: string, storage: string) =>
    new PersistentVolumeClaim({
      metadata: meta(o, name, 'backup'),
      spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage } } },
    });
  return [claim('backup-data', o.backupStorage), claim('backup-keys', '1Gi')];
}

/** The storage's archive, mounted at `<DATA_DIR>/archive` by every storage replica and, read-only, by the backup. */
const ARCHIVE_CLAIM = 'storage-archive';
const ARCHIVE_DIR = '/data/archive';

/** The archive's claim: ReadWriteMany, since every storage replica writes it (one retention run at a time). */
function archiveVolumeClaim(o: Overlay): PersistentVolumeClaim {
  return new PersistentVolumeClaim({ metadata: meta(o, ARCHIVE_CLAIM, 'storage'), spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: o.backupStorage } } } });
}

/** The collector's host tag (collection.tags.host): the node it runs on, set on the node collector alone. */
export const COLLECTOR_HOST = { name: 'TMON_COLLECTION__TAGS__HOST', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } } as const;
/** The collector Deployment's `collection.mode`: scrapes and probes only, spread over its replicas (BullMQ). */
export const COLLECTOR_MODE_JOBS = { name: 'TMON_COLLECTION__MODE', value: 'jobs' } as const;
/** The node collector's `collection.mode`: the node's system metrics only. */
export const COLLECTOR_MODE_SYSTEM = { name: 'TMON_COLLECTION__MODE', value: 'system' } as const;
/**
 * The DaemonSet that collects every node's system metrics, one pod per node on the node's own network and PID
 * namespace, as node-exporter runs: a pod of its own network reads its own `/proc/net/dev` and sees its own processes.
 */
export const COLLECTOR_NODE_NAME = 'collector-node';
/**
 * The node collector's ops port (`/health`, `/metrics`). It listens on the node's own network (hostNetwork), so it
 * must be a port the node does not serve already: the one after the suite's six (9101–9106, each in its pod's own
 * network), clear of node-exporter's 9100 and of the kubelet's and kube-proxy's (10248–10256). If your nodes use it,
 * change it here and re-render.
 */
export const COLLECTOR_NODE_OPS_PORT = 9107;

/**
 * What every pod of a service reads in its environment: its own users and passwords, its address, the engine's
 * URLs where it uses them; the collector's mode and host come on top (deployment, collectorNode).
 */
function serviceEnv(o: Overlay, name: ServiceName, config: Readonly<Config>): IEnvVar[] {
  const isBackup = name === 'backup';
  const engineAccess = isBackup ? engineBackupAccess(o.timeSeries) : undefined;
  return [
    { name: 'SERVICE', value: name },
    // The address it advertises in discovery (ops.address), where the collector's self-scrape reaches its /metrics:
    // a Deployment pod's name does not resolve in the cluster's DNS.
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    // Its own NATS user (deploy/nats/permissions.conf); the password is written into the URL by the config.
    { name: 'NATS_URL', value: `nats://${name}@nats:${NATS_CLIENT_PORT}` },
    // The config writes DATABASE_PASSWORD and REDIS_PASSWORD into these URLs, as NATS_PASSWORD into NATS_URL.
    ...(DATABASE_USERS.includes(name) ? [{ name: 'DATABASE_URL', value: inCluster(config.database.url, 'postgres', databaseRole(name, config)) }] : []),
    // Its own Redis ACL user (deploy/redis/acl-rules.conf).
    ...(REDIS_USERS.includes(name) ? [{ name: 'REDIS_URL', value: inCluster(config.redis.url, 'redis', name) }] : []),
    ...(OWN_DATABASE_ROLES[name] ? [{ ...NO_MIGRATE }] : []),
    ...secretGrants(name, o.timeSeries).map((g) => ({ name: g.env, valueFrom: { secretKeyRef: { name: g.secret, key: g.key } } })),
    // The time-series engine, only for the services that use it (not in the shared ConfigMap).
    ...engineEnv(o.timeSeries, name),
    // Which hop in front of the gateway names the client: the Ingress controller.
    ...(name === 'api-gateway' ? [{ ...GATEWAY_TRUST_PROXY }] : []),
    // Backups and archive under /data (a PersistentVolumeClaim), the keyring on a volume of its own.
    ...(isBackup ? [{ name: 'TMON_BACKUP__KEYRING', value: `${BACKUP_KEYS_DIR}/backup-keyring.json` }] : []),
    ...(engineAccess?.env ?? []),
  ];
}

function deployment(o: Overlay, name: ServiceName, config: Readonly<Config>): Deployment {
  const isBackup = name === 'backup';
  // The single node's snapshot in every backup: its volume, read-only, on the engine's node.
  const engineAccess = isBackup ? engineBackupAccess(o.timeSeries) : undefined;
  const env: IEnvVar[] = [
    ...serviceEnv(o, name, config),
    // Scrapes and probes only: the nodes' system metrics are the node collector's (collectorNode). No host tag: in
    // this mode it would only fill the `host` of scraped and probed series with the node of whichever replica ran
    // the job, a new series at every change of replica.
    ...(name === 'collector' ? [{ ...COLLECTOR_MODE_JOBS }] : []),
  ];
  const volumes: IVolume[] = [
    isBackup ? { name: 'data', persistentVolumeClaim: { claimName: 'backup-data' } } : { name: 'data', emptyDir: {} },
    { name: 'tmp', emptyDir: {} },
    ...(isBackup ? [{ name: 'keys', persistentVolumeClaim: { claimName: 'backup-keys' } }] : []),
    // Optional: without the Secret the directory is empty and, backup.signingKey unset, nothing reads it.
    ...(isBackup ? [{ name: 'signing-key', secret: { secretName: BACKUP_SIGNING_SECRET_NAME, optional: true, defaultMode: 0o400 } }] : []),
    ...(engineAccess ? [engineAccess.volume] : []),
    // On the pod's own /data the archive died with the pod, and each replica kept one of its own.
    ...(name === 'storage' || isBackup ? [{ name: 'archive', persistentVolumeClaim: { claimName: ARCHIVE_CLAIM, readOnly: isBackup } }] : []),
  ];
  const container: IContainer = {
    name,
    image: o.image,
    imagePullPolicy: 'IfNotPresent',
    env,
    // Settings only: every secret is a secretKeyRef above, of the keys this service reads.
    envFrom: [{ configMapRef: { name: CONFIG_MAP_NAME } }],
    ports: ports(name, config),
    ...opsProbes(config),
    // The gateway keeps serving for a moment after the pod is told to stop, until the Ingress and Service have taken
    // it out of their endpoints: closing its listener at once gave keep-alive requests in flight a 502 at every rollout.
    ...(name === 'api-gateway' ? { lifecycle: { preStop: { exec: { command: ['sleep', String(GATEWAY_PRE_STOP_S)] } } } } : {}),
    resources: { requests: { ...o.resources.requests }, limits: { ...o.resources.limits } },
    securityContext: RESTRICTED,
    volumeMounts: [
      { name: 'data', mountPath: '/data' },
      { name: 'tmp', mountPath: '/tmp' },
      ...(isBackup ? [{ name: 'keys', mountPath: BACKUP_KEYS_DIR }, { name: 'signing-key', mountPath: BACKUP_SIGNING_DIR, readOnly: true }] : []),
      ...(engineAccess ? [engineAccess.mount] : []),
      ...(name === 'storage' || isBackup ? [{ name: 'archive', mountPath: ARCHIVE_DIR, readOnly: isBackup }] : []),
    ],
  };
  return new Deployment({
    metadata: meta(o, name),
    // No `replicas`: the HorizontalPodAutoscaler owns the count (from its minReplicas up); a count here set a scaled-out
    // service back to its minimum at every `kubectl apply`, mid-rollout and under load.
    spec: {
      selector: { matchLabels: selector(name) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: labels(name) },
        spec: {
          terminationGracePeriodSeconds: config.shutdownTimeout + 10 + (name === 'api-gateway' ? GATEWAY_PRE_STOP_S : 0),
          automountServiceAccountToken: false,
          securityContext: { ...POD_SECURITY, ...(engineAccess ? { supplementalGroups: engineAccess.supplementalGroups } : {}) },
          affinity: {
            ...engineAccess?.affinity,
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector(name) } } },
              ],
            },
          },
          containers: [container],
          volumes,
        },
      },
    },
  });
}

/**
 * The node collector: a DaemonSet of the collector in `collection.mode: system`, one pod on every node (tainted ones
 * too), in the node's network and PID namespaces, so `/proc/net/dev` holds the node's interfaces and `/proc` its
 * processes; CPU, memory and load read the same in any namespace. The host tag is the node, one pod per node at any
 * time (no surge: a second pod would read the same node through other counters). It is the collector as far as NATS
 * and Redis know: the same users, publishing `metrics.ingest.collector` only. No HorizontalPodAutoscaler (one pod a
 * node by definition) and no PodDisruptionBudget (a drain does not evict a DaemonSet's pods; the pod goes with its
 * node). No NetworkPolicy applies to a pod of the node's network: it reaches NATS (client port open to all) and
 * Redis from the node's address, and its ops port is the node's (docs/deploy.md §1).
 */
function collectorNode(o: Overlay, config: Readonly<Config>): DaemonSet {
  const port = { name: 'ops', containerPort: COLLECTOR_NODE_OPS_PORT, hostPort: COLLECTOR_NODE_OPS_PORT, protocol: 'TCP' as const };
  const container: IContainer = {
    name: 'collector',
    image: o.image,
    imagePullPolicy: 'IfNotPresent',
    env: [
      ...serviceEnv(o, 'collector', config),
      { ...COLLECTOR_MODE_SYSTEM },
      { ...COLLECTOR_HOST },
      { name: 'OPS_PORT', value: String(COLLECTOR_NODE_OPS_PORT) },
      // The ops server on the node's cluster address alone (a hostNetwork pod's IP is its node's), not on every
      // address of the node: /health and the metrics token's /metrics stay off its public interfaces.
      { name: 'TMON_OPS__HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ],
    envFrom: [{ configMapRef: { name: CONFIG_MAP_NAME } }],
    ports: [port],
    ...opsProbes(config),
    resources: { requests: { ...o.collectorNodeResources.requests }, limits: { ...o.collectorNodeResources.limits } },
    // Reading /proc of the node's PID namespace needs no capability: the process count is the entries of /proc.
    securityContext: RESTRICTED,
    volumeMounts: [
      { name: 'data', mountPath: '/data' },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
  return new DaemonSet({
    metadata: meta(o, COLLECTOR_NODE_NAME),
    spec: {
      selector: { matchLabels: selector(COLLECTOR_NODE_NAME) },
      // The old pod of a node stops before its new one starts: both would bind the node's ops port, and two pods
      // of one node took turns collecting it.
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      template: {
        metadata: { labels: labels(COLLECTOR_NODE_NAME) },
        spec: {
          hostNetwork: true,
          hostPID: true,
          // The cluster's DNS (nats, redis), which a pod of the node's network does not get by default.
          dnsPolicy: 'ClusterFirstWithHostNet',
          terminationGracePeriodSeconds: config.shutdownTimeout + 10,
          automountServiceAccountToken: false,
          securityContext: POD_SECURITY,
          // Every node, control plane and tainted ones included, as node-exporter.
          tolerations: [{ operator: 'Exists' }],
          containers: [container],
          volumes: [
            { name: 'data', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  });
}

function service(o: Overlay, name: ServiceName, config: Readonly<Config>): Service {
  return new Service({
    metadata: meta(o, name),
    spec: {
      type: 'ClusterIP',
      selector: selector(name),
      ports: ports(name, config).map((p) => ({ name: p.name, port: p.containerPort, targetPort: p.name, protocol: 'TCP' as const })),
    },
  });
}

function autoscaler(o: Overlay, name: ServiceName): HorizontalPodAutoscaler {
  const s = o.scaling[name];
  return new HorizontalPodAutoscaler({
    metadata: meta(o, name),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: s.min,
      maxReplicas: s.max,
      metrics: [{ type: 'Resource', resource: { name: s.metric, target: { type: 'Utilization', averageUtilization: s.target } } }],
    },
  });
}

/**
 * One pod at a time may be evicted. Not `minAvailable: 1`: it let two of NATS' three servers go at once (its streams
 * lose their majority and every publish fails), and with one replica (the dev overlay) it held every drain for ever.
 */
function disruptionBudget(o: Overlay, name: string): PodDisruptionBudget {
  return new PodDisruptionBudget({ metadata: meta(o, name), spec: { maxUnavailable: 1, selector: { matchLabels: selector(name) } } });
}

/** Seconds the gateway's pod waits, still serving, before its SIGTERM (its preStop hook). */
const GATEWAY_PRE_STOP_S = 5;

const fromNamespace = (o: Overlay) => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': o.namespace } } });

/**
 * The label of the namespaces whose pods may scrape the services' `/metrics` (a Prometheus of their own, in its own
 * namespace): `kubectl label namespace <prometheus's> terminusa.io/scrape-metrics=true`. They still show the metrics token.
 */
export const SCRAPER_NAMESPACE_LABEL = 'terminusa.io/scrape-metrics';
const fromScrapers = { namespaceSelector: { matchLabels: { [SCRAPER_NAMESPACE_LABEL]: 'true' } } };

function networkPolicies(o: Overlay, config: Readonly<Config>): NetworkPolicy[] {
  const deny = new NetworkPolicy({
    metadata: meta(o, 'default-deny-ingress', 'network-policy'),
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  });
  const perService = SERVICE_NAMES.map((name) => {
    const ingress: INetworkPolicyIngressRule[] = [{ from: [fromNamespace(o), fromScrapers], ports: [{ protocol: 'TCP', port: OPS_PORTS[name] }] }];
    // No `from`: the gateway's HTTP port is open to every source, the ingress controller included.
    if (name === 'api-gateway') ingress.push({ ports: [{ protocol: 'TCP', port: config.gateway.port }] });
    return new NetworkPolicy({
      metadata: meta(o, `allow-${name}`, name),
      spec: { podSelector: { matchLabels: selector(name) }, policyTypes: ['Ingress'], ingress },
    });
  });
  const nats = new NetworkPolicy({
    metadata: meta(o, 'allow-nats', 'nats'),
    spec: {
      podSelector: { matchLabels: selector('nats') },
      policyTypes: ['Ingress'],
      ingress: [
        // No `from` on the client port: game services publish from their own namespaces (docs/deploy.md §5), and every
        // client logs in as a NATS user of its own, with permissions for its own subjects only (permissions.conf).
        { ports: [{ protocol: 'TCP', port: NATS_CLIENT_PORT }] },
        { from: [fromNamespace(o), fromScrapers], ports: [{ protocol: 'TCP', port: NATS_MONITOR_PORT }] },
        { from: [{ podSelector: { matchLabels: selector('nats') } }], ports: [{ protocol: 'TCP', port: NATS_CLUSTER_PORT }] },
      ],
    },
  });
  return [deny, ...perService, nats, ...engineNetworkPolicies(o)];
}

/** Pods of these services, in the policy's namespace. */
const fromServices = (names: readonly string[]) => ({
  podSelector: { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: [...names] }] },
});

/** The engine is reached only by the services that use it, and the cluster's parts only by each other. */
function engineNetworkPolicies(o: Overlay): NetworkPolicy[] {
  const allow = (component: string, rules: { from: readonly string[]; port: number }[]) =>
    new NetworkPolicy({
      metadata: meta(o, `allow-${component}`, component),
      spec: {
        podSelector: { matchLabels: selector(component) },
        policyTypes: ['Ingress'],
        ingress: rules.map((r) => ({ from: [fromServices(r.from)], ports: [{ protocol: 'TCP', port: r.port }] })),
      },
    });
  const gate = allow(GATE_NAME, [{ from: gateClients(o.timeSeries), port: GATE_PORT }]);
  if (o.timeSeries.edition === 'single-node') return [allow(SINGLE_NODE_NAME, [{ from: ENGINE_CLIENTS, port: VM_PORT }]), gate];
  return [
    allow('vminsert', [{ from: [VM_WRITER], port: VMINSERT_PORT }]),
    allow('vmselect', [{ from: ENGINE_CLIENTS, port: VMSELECT_PORT }]),
    gate,
    allow('vmstorage', [
      { from: ['vminsert'], port: VMSTORAGE_INSERT_PORT },
      { from: ['vmselect'], port: VMSTORAGE_SELECT_PORT },
    ]),
  ];
}

/**
 * The Secret (`kubernetes.io/tls`, keys tls.crt and tls.key) the Ingress serves HTTPS with. Create it, or let
 * cert-manager make it: add the annotation `cert-manager.io/cluster-issuer: <issuer>` to the Ingress
 * (docs/deploy.md §8); without it, ingress-nginx answers HTTPS with its self-signed default certificate.
 */
export const INGRESS_TLS_SECRET_NAME = 'terminusa-ingress-tls';

function ingress(o: Overlay, config: Readonly<Config>): Ingress {
  return new Ingress({
    metadata: {
      ...meta(o, 'api-gateway', 'api-gateway'),
      annotations: {
        // Plain HTTP is redirected to HTTPS (ingress-nginx does so by default once `tls` is set; stated for clarity).
        'nginx.ingress.kubernetes.io/ssl-redirect': 'true',
        // The largest body the gateway takes (remote_write, OTLP): ingress-nginx's own 1 MiB answered bigger batches
        // 413, which senders drop.
        'nginx.ingress.kubernetes.io/proxy-body-size': `${Math.ceil(config.ingest.maxRequestBytes / 1_048_576)}m`,
      },
    },
    spec: {
      ingressClassName: 'nginx',
      tls: [{ hosts: [o.ingressHost], secretName: INGRESS_TLS_SECRET_NAME }],
      rules: [
        {
          host: o.ingressHost,
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'api-gateway', port: { name: 'http' } } } }] },
        },
      ],
    },
  });
}

function nats(o: Overlay): Manifest[] {
  const headless = 'nats-headless';
  const podHost = (pod: string) => `${pod}.${headless}.${o.namespace}.svc.cluster.local:${NATS_CLUSTER_PORT}`;
  // nats-cluster.conf reads each route's URL whole (nats-server expands no variable inside a string): Kubernetes
  // writes the route password of the Secret (envFrom) into it. Every pod lists all three; a server drops the route to itself.
  const routes = Array.from({ length: NATS_REPLICAS }, (_, i) => ({
    name: natsRouteUrlVariable(i),
    value: `nats-route://${NATS_ROUTE_USER}:$(${NATS_ROUTE_PASSWORD_VARIABLE})@${podHost(`nats-${i}`)}`,
  }));
  const natsPorts = [
    { name: 'client', containerPort: NATS_CLIENT_PORT, protocol: 'TCP' as const },
    { name: 'cluster', containerPort: NATS_CLUSTER_PORT, protocol: 'TCP' as const },
    { name: 'monitor', containerPort: NATS_MONITOR_PORT, protocol: 'TCP' as const },
  ];
  const config = new ConfigMap({
    metadata: meta(o, NATS_CONFIG_MAP_NAME, 'nats'),
    data: {
      'nats.conf': renderNatsServerConfig(),
      'permissions.conf': renderNatsPermissions('', shippedProducers()),
      [NATS_CLUSTER_CONFIG]: renderNatsClusterConfig({ replicas: NATS_REPLICAS }),
    },
  });
  const client = new Service({
    metadata: meta(o, 'nats'),
    spec: { type: 'ClusterIP', selector: selector('nats'), ports: [{ name: 'client', port: NATS_CLIENT_PORT, targetPort: 'client', protocol: 'TCP' as const }] },
  });
  const headlessService = new Service({
    metadata: meta(o, headless, 'nats'),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selector('nats'),
      ports: natsPorts.map((p) => ({ name: p.name, port: p.containerPort, targetPort: p.name, protocol: 'TCP' as const })),
    },
  });
  const statefulSet = new StatefulSet({
    metadata: meta(o, 'nats'),
    spec: {
      serviceName: headless,
      replicas: NATS_REPLICAS,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selector('nats') },
      template: {
        // A change of nats.conf, permissions.conf or nats-cluster.conf rolls the pods, which read them only at start.
        metadata: { labels: labels('nats'), annotations: { 'terminusa.io/nats-config-sha256': createHash('sha256').update(JSON.stringify(config.data)).digest('hex') } },
        spec: {
          terminationGracePeriodSeconds: 60,
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector('nats') } } },
              ],
            },
          },
          containers: [
            {
              name: 'nats',
              image: 'nats:2.10-alpine',
              // nats.conf (JetStream on /data, monitoring, the users with their permissions) and the cluster: its
              // name, the routes and their password and TLS, all in the file; no flags.
              args: [`--config=${NATS_CONFIG_DIR}/${NATS_CLUSTER_CONFIG}`],
              env: [
                { name: NATS_SERVER_NAME_VARIABLE, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: NATS_CLUSTER_ADVERTISE_VARIABLE, value: podHost(`$(${NATS_SERVER_NAME_VARIABLE})`) },
                ...routes,
              ],
              // TMON_NATS_PASSWORD_<USER> of every user, read by permissions.conf, and TMON_NATS_ROUTE_PASSWORD.
              envFrom: [{ secretRef: { name: NATS_SECRET_NAME } }],
              ports: natsPorts,
              livenessProbe: { httpGet: { path: '/healthz?js-enabled-only=true', port: 'monitor' }, periodSeconds: 10, timeoutSeconds: 5 },
              readinessProbe: { httpGet: { path: '/healthz?js-server-only=true', port: 'monitor' }, periodSeconds: 10, timeoutSeconds: 5 },
              startupProbe: { httpGet: { path: '/healthz', port: 'monitor' }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 90 },
              resources: { requests: { ...o.natsResources.requests }, limits: { ...o.natsResources.limits } },
              securityContext: RESTRICTED,
              volumeMounts: [
                { name: 'jetstream', mountPath: '/data' },
                { name: 'config', mountPath: NATS_CONFIG_DIR, readOnly: true },
              ],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: NATS_CONFIG_MAP_NAME } }],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: 'jetstream' },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: o.natsStorage } } },
        },
      ],
    },
  });
  return [config, client, headlessService, statefulSet, disruptionBudget(o, 'nats')];
}

/** The command of the image that creates the suite's streams and durable consumers (packages/runtime nats-bootstrap-main.ts). */
export const NATS_BOOTSTRAP_COMMAND = ['node', 'tools/nats-bootstrap.mjs'] as const;
/** The command of the image that migrates the schema and grants the services' roles (packages/runtime db-migrate-main.ts). */
export const DB_MIGRATE_COMMAND = ['node', 'tools/db-migrate.mjs'] as const;

/**
 * A one-shot of the image as a Job, retried until it succeeds, with the shared ConfigMap's settings. A Job's pod
 * template cannot change, so its name carries a hash of the template and the ConfigMap's data: a new image or new
 * settings make a new Job, which runs again; finished Jobs are removed after a day.
 */
function oneShotJob(o: Overlay, config: Readonly<Config>, name: string, args: readonly string[], env: IContainer['env']): Job {
  const container: IContainer = {
    name,
    image: o.image,
    imagePullPolicy: 'IfNotPresent',
    // The image's entrypoint (tini) stays; this replaces its CMD (a service).
    args: [...args],
    env,
    envFrom: [{ configMapRef: { name: CONFIG_MAP_NAME } }],
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
    securityContext: RESTRICTED,
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
  };
  const template: IPodTemplateSpec = {
    metadata: { labels: labels(name) },
    spec: {
      restartPolicy: 'OnFailure',
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [container],
      volumes: [{ name: 'tmp', emptyDir: {} }],
    },
  };
  const hash = createHash('sha256').update(JSON.stringify([template, configMap(o, config).data])).digest('hex').slice(0, 10);
  return new Job({
    metadata: meta(o, `${name}-${hash}`, name),
    spec: { backoffLimit: 10, ttlSecondsAfterFinished: 86_400, template },
  });
}

/**
 * The NATS bootstrap: as the `bootstrap` user, it creates or updates every stream and durable consumer with the
 * settings of the shared ConfigMap (replicas, core.timeout, core.queueSize), retrying until the NATS cluster is up;
 * the services only bind to them (TMON_NATS__MANAGE_STREAMS=false) and wait until they exist.
 */
function natsBootstrapJob(o: Overlay, config: Readonly<Config>): Job {
  return oneShotJob(o, config, 'nats-bootstrap', NATS_BOOTSTRAP_COMMAND, [
    { name: 'NATS_URL', value: `nats://${BOOTSTRAP_USER}@nats:${NATS_CLIENT_PORT}` },
    { name: 'NATS_PASSWORD', valueFrom: { secretKeyRef: { name: NATS_SECRET_NAME, key: natsPasswordVariable(BOOTSTRAP_USER) } } },
  ]);
}

/**
 * The migrations: as the owner role (the only holder of its password), it migrates the schema and grants each
 * service's role its tables, retrying until PostgreSQL answers; the services wait for it (TMON_DATABASE__MIGRATE=false).
 */
function dbMigrateJob(o: Overlay, config: Readonly<Config>): Job {
  return oneShotJob(o, config, 'db-migrate', DB_MIGRATE_COMMAND, [
    { name: 'DATABASE_URL', value: inCluster(config.database.url, 'postgres', DATABASE_ROLE) },
    { name: 'DATABASE_PASSWORD', valueFrom: { secretKeyRef: { name: DATABASE_SECRET_NAME, key: 'DATABASE_PASSWORD' } } },
  ]);
}

/** The time-series engine's file: the single node, or the cluster edition with its PodDisruptionBudgets. */
function timeSeries(o: Overlay): ManifestFile {
  const context = { meta: (name: string) => meta(o, name), labels };
  const gate = gateManifests(context, o.timeSeries);
  if (o.timeSeries.edition === 'single-node') return { file: 'victoria-metrics.yaml', objects: [...singleNodeManifests(context, o.timeSeries), ...gate, disruptionBudget(o, GATE_NAME)] };
  return {
    file: 'victoria-metrics-cluster.yaml',
    objects: [...clusterManifests(context, o.timeSeries), ...gate, ...['vmstorage', 'vminsert', 'vmselect', GATE_NAME].map((name) => disruptionBudget(o, name))],
  };
}

/** Every manifest of one overlay, grouped into the files render writes. */
export function buildManifests(o: Overlay, config: Readonly<Config>): ManifestFile[] {
  return [
    { file: 'namespace.yaml', objects: [namespace(o)] },
    { file: 'configmap.yaml', objects: [configMap(o, config)] },
    // Applied with the rest, the placeholders would become the passwords: a Deployment whose Secret was
    // not created on purpose must fail to start instead.
    { file: 'secret.template.yaml', objects: secrets(o), template: true },
    ...SERVICE_NAMES.map((name) => ({
      file: `${name}.yaml`,
      objects: [
        ...(name === 'backup' ? backupVolumeClaims(o) : []),
        ...(name === 'storage' ? [archiveVolumeClaim(o)] : []),
        deployment(o, name, config),
        service(o, name, config),
        autoscaler(o, name),
        // Backup pods beside the single node all run on its node: a budget would not spread them, and would block
        // draining that node (the last one waits for a replacement that cannot start until the volume is free).
        ...(name === 'backup' && engineBackupAccess(o.timeSeries) ? [] : [disruptionBudget(o, name)]),
      ],
    })),
    // The nodes' system metrics, one collector pod per node (collection.mode system); the Deployment runs the jobs.
    { file: `${COLLECTOR_NODE_NAME}.yaml`, objects: [collectorNode(o, config)] },
    { file: 'network-policies.yaml', objects: networkPolicies(o, config) },
    { file: 'ingress.yaml', objects: [ingress(o, config)] },
    { file: 'nats.yaml', objects: nats(o) },
    { file: 'nats-bootstrap.yaml', objects: [natsBootstrapJob(o, config)] },
    { file: 'db-migrate.yaml', objects: [dbMigrateJob(o, config)] },
    timeSeries(o),
  ];
}
