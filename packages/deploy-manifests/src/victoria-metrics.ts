import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import type { IAffinity, IContainer, IEnvVar, IPodSecurityContext, IProbe, ISecurityContext, IVolume, IVolumeMount } from 'kubernetes-models/v1';
import { engineMaxLabels, engineRetentionDays, type ServiceName } from '@terminusa/config';
import { defaultConfig, type ClusterEngine, type ResourceSettings, type SingleNodeEngine, type TimeSeriesEngine } from './overlays.ts';

/**
 * The time-series engine that holds the raw samples: VictoriaMetrics, the single-node server (Debian's
 * `victoria-metrics` 1.79 in development, the upstream image in the deployments) or its cluster edition.
 */
export const VM_VERSION = 'v1.79.5';
export const VM_IMAGE = `victoriametrics/victoria-metrics:${VM_VERSION}`;
export const VMSTORAGE_IMAGE = `victoriametrics/vmstorage:${VM_VERSION}-cluster`;
export const VMINSERT_IMAGE = `victoriametrics/vminsert:${VM_VERSION}-cluster`;
export const VMSELECT_IMAGE = `victoriametrics/vmselect:${VM_VERSION}-cluster`;

/** HTTP port of the single-node server; the cluster components' ports are their defaults. */
export const VM_PORT = 8428;
export const VMINSERT_PORT = 8480;
export const VMSELECT_PORT = 8481;
export const VMSTORAGE_HTTP_PORT = 8482;
/** vmstorage's ports for vminsert (writes) and vmselect (reads). */
export const VMSTORAGE_INSERT_PORT = 8400;
export const VMSTORAGE_SELECT_PORT = 8401;

/** Where the engine keeps its data; the backup copies snapshots from `<this>/snapshots/`. */
export const VM_STORAGE_PATH = '/storage';
/** Raw samples are kept for `storage.retention.raw` and a day more (engineRetentionDays); the rollup tiers keep the history. */
const RETENTION = `-retentionPeriod=${engineRetentionDays(defaultConfig())}d`;
/** Timestamps are in milliseconds: samples of a series at the same millisecond are one sample (a redelivered batch, a replica). */
const DEDUP = '-dedup.minScrapeInterval=1ms';
/** Every label of a sample kept (engineMaxLabels): past 30 the engine dropped the last ones silently. */
const MAX_LABELS = `-maxLabelsPerTimeseries=${engineMaxLabels(defaultConfig())}`;

/**
 * The engine's credentials, a Secret of their own: every API behind HTTP Basic auth (VM_PASSWORD, for the storage and
 * vmauth in front of the engine; the passwords of vmauth's users are in it too, engine-gate.ts), snapshots behind a
 * key of their own (VM_SNAPSHOT_KEY, for the two that take them), and deletes behind a key no service holds
 * (VM_DELETE_KEY, for an operator's hands only).
 */
export const ENGINE_SECRET_NAME = 'terminusa-engine';
/** The engine's Basic-auth user: storage.engine.username's default, so the storage needs no variable for it. */
export const ENGINE_USER = 'terminusa';
/** Each credential flag, read from the environment (`-envflag.prefix=VM_`: `VM_<flag, dots as _>`), and its Secret key. */
export const ENGINE_CREDENTIALS: readonly { readonly env: string; readonly key: string }[] = [
  { env: 'VM_httpAuth_password', key: 'VM_PASSWORD' },
  { env: 'VM_snapshotAuthKey', key: 'VM_SNAPSHOT_KEY' },
  { env: 'VM_deleteAuthKey', key: 'VM_DELETE_KEY' },
];
/** The services that take snapshots: the storage (its durability) and the backup; a snapshot pins every part on disk. */
export const ENGINE_SNAPSHOT_TAKERS: readonly ServiceName[] = ['storage', 'backup'];
/** The credential flags come from the environment, never the command line, which every process on the node may read. */
const CREDENTIAL_FLAGS = [`-httpAuth.username=${ENGINE_USER}`, '-envflag.enable', '-envflag.prefix=VM_'];

/** The single-node server's flags, the same in docker-compose.yml and the StatefulSet. */
export const VM_SINGLE_NODE_ARGS: readonly string[] = [`-storageDataPath=${VM_STORAGE_PATH}`, RETENTION, DEDUP, MAX_LABELS, `-httpListenAddr=:${VM_PORT}`, ...CREDENTIAL_FLAGS];

/** Where the engine's containers and vmauth read their credentials: files named as docker-compose.yml's secrets. */
export const SECRETS_DIR = '/run/secrets';
/** The file of a credential under SECRETS_DIR: its Secret key in lower case (compose's secret of that name). */
export const secretFile = (key: string) => key.toLowerCase();

/**
 * `secret <file>` of the start scripts: the file's content without line ends (the services drop them too, so a file
 * saved with CRLF gives the same password), or exit 1 when it is missing or empty, which would turn that
 * credential off.
 */
export const SECRET_FUNCTION = [
  'secret() {',
  `  v="$(tr -d '\\r\\n' < "${SECRETS_DIR}/$1" 2>/dev/null)"`,
  '  [ -n "$v" ] || { echo "secret $1 is missing or empty" >&2; exit 1; }',
  "  printf '%s' \"$v\"",
  '}',
];

/**
 * The start script (`sh -c`; the upstream images are Alpine's) of every engine container, in docker-compose.yml and
 * Kubernetes alike: each credential read from its file and handed to the server in its environment (-envflag.*).
 * A Kubernetes secretKeyRef would hand an empty value on, which the engine takes as that credential switched off.
 */
export function engineScript(binary: string): string {
  return [
    '# An empty value turns a credential off: refuse to start rather than serve everyone.',
    ...SECRET_FUNCTION,
    ...ENGINE_CREDENTIALS.map((c) => `${c.env}="$(secret ${secretFile(c.key)})" || exit 1`),
    `export ${ENGINE_CREDENTIALS.map((c) => c.env).join(' ')}`,
    `exec /${binary} "$@"`,
    '',
  ].join('\n');
}

/** The engine Secret's `keys` as files under SECRETS_DIR (secretFile), readable by the pod's group (fsGroup), not by the world. */
export function credentialFiles(keys: readonly string[]): { mount: IVolumeMount; volume: IVolume } {
  return {
    mount: { name: 'credentials', mountPath: SECRETS_DIR, readOnly: true },
    volume: { name: 'credentials', secret: { secretName: ENGINE_SECRET_NAME, defaultMode: 0o440, items: keys.map((key) => ({ key, path: secretFile(key) })) } },
  };
}

/** What runs an engine container: its start script, reading the engine Secret's keys mounted as files. */
function credentialed(binary: string, name: string): Pick<IContainer, 'command'> & { mount: IVolumeMount; volume: IVolume } {
  return { command: ['sh', '-c', engineScript(binary), name], ...credentialFiles(ENGINE_CREDENTIALS.map((c) => c.key)) };
}

/** The one service that reaches the engine itself, with its own credentials: it writes, reads and snapshots. The others go through the gate (engine-gate.ts). */
export const VM_WRITER: ServiceName = 'storage';

/** The service whose pods mount the single node's volume beside it. */
const ENGINE_BACKUP_READER: ServiceName = 'backup';
/** Where the backup pod mounts the single node's volume, read-only; `backup.engineDataDir`, as in docker-compose.yml. */
const BACKUP_ENGINE_DIR = '/vm-storage';
/** The engine's own group (its pod's fsGroup), which the backup pod joins to read the engine's files. */
const ENGINE_GROUP = 1000;
/** The single node's StatefulSet, Service and pod label. */
export const SINGLE_NODE_NAME = 'victoria-metrics';
/** The claim template of every engine StatefulSet, mounted at VM_STORAGE_PATH. */
const DATA_CLAIM = 'storage';
/** The claim the single node's StatefulSet makes for its one pod: `<template>-<statefulset>-<ordinal>`. */
const SINGLE_NODE_CLAIM = `${DATA_CLAIM}-${SINGLE_NODE_NAME}-0`;

/** What the backup pod needs to put the single node's snapshot in every backup. */
export interface EngineBackupAccess {
  env: IEnvVar[];
  volume: IVolume;
  mount: IVolumeMount;
  affinity: Pick<IAffinity, 'podAffinity'>;
  supplementalGroups: number[];
}

/**
 * The single node's volume for the backup pod, read-only: a snapshot is hard links in the engine's own directories,
 * so only a pod that mounts the volume can read one. The claim is ReadWriteOnce, which a node grants to every pod
 * on it, so backup pods run on the engine's node. None for the cluster edition, backed up with its own tools.
 */
export function engineBackupAccess(engine: TimeSeriesEngine): EngineBackupAccess | undefined {
  if (engine.edition !== 'single-node') return undefined;
  return {
    env: [{ name: 'TMON_BACKUP__ENGINE_DATA_DIR', value: BACKUP_ENGINE_DIR }],
    volume: { name: 'engine', persistentVolumeClaim: { claimName: SINGLE_NODE_CLAIM, readOnly: true } },
    mount: { name: 'engine', mountPath: BACKUP_ENGINE_DIR, readOnly: true },
    affinity: {
      podAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector(SINGLE_NODE_NAME) } }],
      },
    },
    supplementalGroups: [ENGINE_GROUP],
  };
}

/** The base URL a service reads from: the single node itself, or vmselect of tenant 0. */
export function vmReadUrl(engine: Pick<TimeSeriesEngine, 'edition'>): string {
  return engine.edition === 'single-node' ? `http://victoria-metrics:${VM_PORT}` : `http://vmselect:${VMSELECT_PORT}/select/0/prometheus`;
}

/** The base URL the storage writes to: vminsert of tenant 0 in the cluster edition. */
export function vmWriteUrl(engine: Pick<TimeSeriesEngine, 'edition'>): string {
  return engine.edition === 'single-node' ? vmReadUrl(engine) : `http://vminsert:${VMINSERT_PORT}/insert/0/prometheus`;
}

/**
 * The storage's engine variables: `VM_URL` (storage.engine.url). The single node answers reads and writes at one URL,
 * so VM_URL serves both; only the cluster edition splits them, and gives the storage `VM_WRITE_URL`
 * (storage.engine.writeUrl, vminsert) and replication as its durability (there is no /snapshot/create on vminsert,
 * whose answer means the rows are in its memory: docs/deploy.md §6 says what a crash loses).
 */
export function vmEnv(engine: TimeSeriesEngine, service: ServiceName): IEnvVar[] {
  if (service !== VM_WRITER) return [];
  const env: IEnvVar[] = [{ name: 'VM_URL', value: vmReadUrl(engine) }];
  if (engine.edition === 'cluster') {
    env.push({ name: 'VM_WRITE_URL', value: vmWriteUrl(engine) }, { name: 'TMON_STORAGE__ENGINE__DURABILITY', value: 'replication' });
  }
  return env;
}

/** The overlay's metadata and pod labels, as the suite's other objects have them (manifests.ts). */
export interface EngineContext {
  readonly meta: (name: string) => { name: string; namespace: string; labels: Record<string, string> };
  readonly labels: (component: string) => Record<string, string>;
}

export const selector = (component: string) => ({ 'app.kubernetes.io/name': component });

/** The upstream images run as root by default; nothing in them needs it. */
export const POD_SECURITY: IPodSecurityContext = { runAsNonRoot: true, runAsUser: 1000, runAsGroup: ENGINE_GROUP, fsGroup: ENGINE_GROUP, seccompProfile: { type: 'RuntimeDefault' } };
export const RESTRICTED: ISecurityContext = { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

export function healthProbes(port: string): Pick<IContainer, 'livenessProbe' | 'readinessProbe'> {
  const probe = (failureThreshold: number): IProbe => ({ httpGet: { path: '/health', port }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold });
  return { livenessProbe: probe(6), readinessProbe: probe(3) };
}

export const spread = (component: string) => ({
  podAntiAffinity: {
    preferredDuringSchedulingIgnoredDuringExecution: [
      { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector(component) } } },
    ],
  },
});

const resources = (r: ResourceSettings) => ({ requests: { ...r.requests }, limits: { ...r.limits } });

export function servicePorts(ports: readonly { name: string; containerPort: number }[]) {
  return ports.map((p) => ({ name: p.name, port: p.containerPort, targetPort: p.name, protocol: 'TCP' as const }));
}

/** A StatefulSet with one PersistentVolumeClaim per pod at VM_STORAGE_PATH, and a /tmp of its own. */
function statefulSet(c: EngineContext, name: string, replicas: number, storage: string, container: IContainer, volumes: IVolume[], affinity: IAffinity = spread(name)): StatefulSet {
  return new StatefulSet({
    metadata: c.meta(name),
    spec: {
      // The headless Service of the same name gives each pod its DNS name (vmstorage-0.vmstorage).
      serviceName: name,
      replicas,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selector(name) },
      template: {
        metadata: { labels: c.labels(name) },
        spec: {
          // The engine flushes its in-memory parts on SIGTERM.
          terminationGracePeriodSeconds: 60,
          automountServiceAccountToken: false,
          securityContext: POD_SECURITY,
          affinity,
          containers: [{ ...container, volumeMounts: [{ name: DATA_CLAIM, mountPath: VM_STORAGE_PATH }, { name: 'tmp', mountPath: '/tmp' }, ...(container.volumeMounts ?? [])] }],
          volumes: [{ name: 'tmp', emptyDir: {} }, ...volumes],
        },
      },
      volumeClaimTemplates: [{ metadata: { name: DATA_CLAIM }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } } }],
    },
  });
}

function headlessService(c: EngineContext, name: string, ports: readonly { name: string; containerPort: number }[]): Service {
  return new Service({ metadata: c.meta(name), spec: { clusterIP: 'None', selector: selector(name), ports: servicePorts(ports) } });
}

/** VictoriaMetrics single node: a StatefulSet of one pod and its headless Service `victoria-metrics`. */
export function singleNodeManifests(c: EngineContext, engine: SingleNodeEngine): [Service, StatefulSet] {
  const name = SINGLE_NODE_NAME;
  const ports = [{ name: 'http', containerPort: VM_PORT, protocol: 'TCP' as const }];
  const credentials = credentialed('victoria-metrics-prod', name);
  const container: IContainer = {
    name,
    image: VM_IMAGE,
    imagePullPolicy: 'IfNotPresent',
    command: credentials.command,
    args: [...VM_SINGLE_NODE_ARGS],
    ports,
    volumeMounts: [credentials.mount],
    ...healthProbes('http'),
    resources: resources(engine.resources),
    securityContext: RESTRICTED,
  };
  // A new engine pod (a rollout, an eviction) goes back to the node whose backup pods hold its ReadWriteOnce
  // volume (engineBackupAccess): on another node it could not attach the volume until they were gone.
  const nearBackups: IAffinity = {
    podAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector(ENGINE_BACKUP_READER) } } }],
    },
  };
  return [headlessService(c, name, ports), statefulSet(c, name, 1, engine.storage, container, [credentials.volume], nearBackups)];
}

/** The addresses vminsert or vmselect reach every vmstorage node at, through the headless Service. */
function storageNodes(engine: ClusterEngine, port: number): string {
  return Array.from({ length: engine.storageNodes }, (_, i) => `vmstorage-${i}.vmstorage:${port}`).join(',');
}

function frontend(c: EngineContext, engine: ClusterEngine, name: 'vminsert' | 'vmselect', image: string, port: number, args: string[]): [Deployment, Service] {
  const ports = [{ name: 'http', containerPort: port, protocol: 'TCP' as const }];
  const credentials = credentialed(`${name}-prod`, name);
  const deployment = new Deployment({
    metadata: c.meta(name),
    spec: {
      replicas: engine.frontendReplicas,
      selector: { matchLabels: selector(name) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: c.labels(name) },
        spec: {
          automountServiceAccountToken: false,
          securityContext: POD_SECURITY,
          affinity: spread(name),
          containers: [
            {
              name,
              image,
              imagePullPolicy: 'IfNotPresent',
              command: credentials.command,
              args: [...args, `-httpListenAddr=:${port}`, ...CREDENTIAL_FLAGS],
              ports,
              ...healthProbes('http'),
              resources: resources(engine.frontendResources),
              securityContext: RESTRICTED,
              // vmselect keeps temporary search results under /tmp.
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, credentials.mount],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: {} }, credentials.volume],
        },
      },
    },
  });
  const service = new Service({ metadata: c.meta(name), spec: { type: 'ClusterIP', selector: selector(name), ports: servicePorts(ports) } });
  return [deployment, service];
}

/**
 * The cluster edition: `vmstorage` (StatefulSet, one PVC per node, headless Service), `vminsert` (writes,
 * replicated to replicationFactor nodes) and `vmselect` (reads; the 1 ms deduplication merges the replicas'
 * copies of a sample), each Deployment with a ClusterIP Service.
 */
export function clusterManifests(c: EngineContext, engine: ClusterEngine): (Service | StatefulSet | Deployment)[] {
  const storagePorts = [
    { name: 'http', containerPort: VMSTORAGE_HTTP_PORT, protocol: 'TCP' as const },
    { name: 'vminsert', containerPort: VMSTORAGE_INSERT_PORT, protocol: 'TCP' as const },
    { name: 'vmselect', containerPort: VMSTORAGE_SELECT_PORT, protocol: 'TCP' as const },
  ];
  const credentials = credentialed('vmstorage-prod', 'vmstorage');
  const vmstorage = statefulSet(c, 'vmstorage', engine.storageNodes, engine.storage, {
    name: 'vmstorage',
    image: VMSTORAGE_IMAGE,
    imagePullPolicy: 'IfNotPresent',
    command: credentials.command,
    args: [
      `-storageDataPath=${VM_STORAGE_PATH}`,
      RETENTION,
      DEDUP,
      `-httpListenAddr=:${VMSTORAGE_HTTP_PORT}`,
      `-vminsertAddr=:${VMSTORAGE_INSERT_PORT}`,
      `-vmselectAddr=:${VMSTORAGE_SELECT_PORT}`,
      ...CREDENTIAL_FLAGS,
    ],
    ports: storagePorts,
    ...healthProbes('http'),
    resources: resources(engine.storageResources),
    securityContext: RESTRICTED,
    volumeMounts: [credentials.mount],
  }, [credentials.volume]);
  return [
    headlessService(c, 'vmstorage', storagePorts),
    vmstorage,
    // vminsert talks to vmstorage's vminsert port (8400), vmselect to its vmselect port (8401).
    ...frontend(c, engine, 'vminsert', VMINSERT_IMAGE, VMINSERT_PORT, [
      `-storageNode=${storageNodes(engine, VMSTORAGE_INSERT_PORT)}`,
      `-replicationFactor=${engine.replicationFactor}`,
      MAX_LABELS,
    ]),
    ...frontend(c, engine, 'vmselect', VMSELECT_IMAGE, VMSELECT_PORT, [`-storageNode=${storageNodes(engine, VMSTORAGE_SELECT_PORT)}`, DEDUP]),
  ];
}
