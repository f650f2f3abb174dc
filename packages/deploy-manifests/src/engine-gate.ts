import { createHash } from 'node:crypto';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Service, type IEnvVar } from 'kubernetes-models/v1';
import { stringify } from 'yaml';
import type { ServiceName } from '@terminusa/config';
import type { TimeSeriesEngine } from './overlays.ts';
import {
  credentialFiles,
  ENGINE_SECRET_NAME,
  ENGINE_SNAPSHOT_TAKERS,
  ENGINE_USER,
  healthProbes,
  POD_SECURITY,
  RESTRICTED,
  SECRET_FUNCTION,
  secretFile,
  selector,
  servicePorts,
  spread,
  VM_VERSION,
  VM_WRITER,
  vmEnv,
  vmReadUrl,
  type EngineContext,
} from './victoria-metrics.ts';

/**
 * vmauth in front of the engine, for every service but the storage: the engine knows one Basic-auth user, who may
 * write and read everything, so the services that only read (the gateway, the alert-manager) or only take
 * snapshots (the backup) reach it through vmauth, each as a user of its own allowed only its own paths. vmauth
 * sends the engine's credentials upstream in place of the caller's, so only it and the storage hold them.
 */
export const GATE_NAME = 'vmauth';
export const GATE_PORT = 8427;
export const GATE_URL = `http://${GATE_NAME}:${GATE_PORT}`;
/** vmauth's upstream image, of the engine's version. */
export const GATE_IMAGE = `victoriametrics/vmauth:${VM_VERSION}`;

/** One user of the gate: the services that sign in as it, its password's key, and the engine paths it may call. */
export interface GateUser {
  readonly user: string;
  readonly passwordKey: string;
  readonly services: readonly ServiceName[];
  /** vmauth's `src_paths`: regular expressions of the whole path, after `..` and `//` are cleaned out of it. */
  readonly paths: readonly string[];
  /** Only the single node has snapshots (the cluster edition is backed up with its own tools). */
  readonly singleNodeOnly?: boolean;
}

/** Every read the gateway (history, PromQL, names) and the alert-manager (PromQL rules) make: nothing that writes. */
const READ_PATHS = [
  '/api/v1/query',
  '/api/v1/query_range',
  '/api/v1/series',
  '/api/v1/labels',
  '/api/v1/label/[^/]+/values',
  '/api/v1/metadata',
  '/api/v1/export',
  '/api/v1/status/tsdb',
];
/** The backup's snapshots, taken and deleted (only the storage lists them); the engine still asks for the snapshot key, which the backup holds. */
const SNAPSHOT_PATHS = ['/snapshot/create', '/snapshot/delete'];

export const GATE_USERS: readonly GateUser[] = [
  { user: 'reader', passwordKey: 'VM_READER_PASSWORD', services: ['api-gateway', 'alert-manager'], paths: READ_PATHS },
  { user: 'backup', passwordKey: 'VM_BACKUP_PASSWORD', services: ['backup'], paths: SNAPSHOT_PATHS, singleNodeOnly: true },
];

/** Which edition of the engine runs: all the gate's wiring depends on. */
type Edition = Pick<TimeSeriesEngine, 'edition'>;

/** The gate's users of an edition. */
export function gateUsers(engine: Edition): GateUser[] {
  return GATE_USERS.filter((u) => engine.edition === 'single-node' || !u.singleNodeOnly);
}

/** The gate user a service signs in as, if it reaches the engine through the gate. */
export function gateUserOf(engine: Edition, service: ServiceName): GateUser | undefined {
  return gateUsers(engine).find((u) => u.services.includes(service));
}

/** Where the gate's configuration is mounted. */
const CONFIG_DIR = '/etc/vmauth';
const CONFIG_FILE = 'auth.yml';
/** The variable the start script sets to the engine's `Authorization` header. */
const ENGINE_AUTHORIZATION = 'VM_ENGINE_AUTHORIZATION';

/**
 * The gate's start script (`sh -c`; the image is Alpine's), in docker-compose.yml and the Deployment alike: it reads
 * the passwords from files, refuses a missing or empty one (vmauth would let anyone in with an empty password) and
 * computes the engine's Basic header, which vmauth's configuration cannot. vmauth puts the variables into its
 * configuration's `%{…}` placeholders.
 */
export function gateScript(engine: Edition): string {
  const passwords = gateUsers(engine).map((u) => `${u.passwordKey}="$(secret ${secretFile(u.passwordKey)})" || exit 1`);
  return [
    '# A missing or empty password would let anyone in as that user: refuse to start instead.',
    ...SECRET_FUNCTION,
    ...passwords,
    'engine="$(secret vm_password)" || exit 1',
    `${ENGINE_AUTHORIZATION}="Basic $(printf '%s:%s' '${ENGINE_USER}' "$engine" | base64 | tr -d '\\n')"`,
    `export ${[...gateUsers(engine).map((u) => u.passwordKey), ENGINE_AUTHORIZATION].join(' ')}`,
    'exec /vmauth-prod "$@"',
    '',
  ].join('\n');
}

/** vmauth's flags: its configuration, its port. */
export const GATE_ARGS: readonly string[] = [`-auth.config=${CONFIG_DIR}/${CONFIG_FILE}`, `-httpListenAddr=:${GATE_PORT}`];

/**
 * The gate's configuration (`-auth.config`), with the passwords as `%{…}` placeholders: no secret in it, so it is a
 * ConfigMap in Kubernetes and a config in docker-compose.yml. Reads go to the single node or vmselect, snapshots to
 * the single node.
 */
export function gateConfig(engine: Edition): string {
  const users = gateUsers(engine).map((u) => ({
    username: u.user,
    password: `%{${u.passwordKey}}`,
    url_map: [{ src_paths: [...u.paths], url_prefix: vmReadUrl(engine), headers: [`Authorization: %{${ENGINE_AUTHORIZATION}}`] }],
  }));
  return `# Generated by packages/deploy-manifests (pnpm k8s:render) from engine-gate.ts. Do not edit by hand.\n${stringify({ users }, { lineWidth: 0 })}`;
}

/** The gate in Kubernetes: its configuration, a Deployment of two pods (it holds no state) and its Service. */
export function gateManifests(c: EngineContext, engine: TimeSeriesEngine): [ConfigMap, Deployment, Service] {
  const ports = [{ name: 'http', containerPort: GATE_PORT, protocol: 'TCP' as const }];
  const credentials = credentialFiles(['VM_PASSWORD', ...gateUsers(engine).map((u) => u.passwordKey)]);
  const config = gateConfig(engine);
  const deployment = new Deployment({
    metadata: c.meta(GATE_NAME),
    spec: {
      replicas: 2,
      selector: { matchLabels: selector(GATE_NAME) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        // A change of its configuration rolls the pods, which read it only at start.
        metadata: { labels: c.labels(GATE_NAME), annotations: { 'terminusa.io/vmauth-config-sha256': createHash('sha256').update(config).digest('hex') } },
        spec: {
          automountServiceAccountToken: false,
          securityContext: POD_SECURITY,
          affinity: spread(GATE_NAME),
          containers: [
            {
              name: GATE_NAME,
              image: GATE_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', gateScript(engine), GATE_NAME],
              args: [...GATE_ARGS],
              ports,
              ...healthProbes('http'),
              resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '256Mi' } },
              securityContext: RESTRICTED,
              // The engine's password and the gate users', as files named as docker-compose.yml's secrets.
              volumeMounts: [{ name: 'config', mountPath: CONFIG_DIR, readOnly: true }, credentials.mount],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: `${GATE_NAME}-config` } }, credentials.volume],
        },
      },
    },
  });
  const configMap = new ConfigMap({ metadata: c.meta(`${GATE_NAME}-config`), data: { [CONFIG_FILE]: config } });
  const service = new Service({ metadata: c.meta(GATE_NAME), spec: { type: 'ClusterIP', selector: selector(GATE_NAME), ports: servicePorts(ports) } });
  return [configMap, deployment, service];
}

/**
 * The engine's variables of one service's container: the storage reaches the engine itself (vmEnv); the services
 * with a gate user reach the gate (`VM_URL`) as that user (`VM_USERNAME`); the others do not reach it.
 */
export function engineEnv(engine: TimeSeriesEngine, service: ServiceName): IEnvVar[] {
  const user = gateUserOf(engine, service);
  if (!user) return vmEnv(engine, service);
  return [
    { name: 'VM_URL', value: GATE_URL },
    { name: 'VM_USERNAME', value: user.user },
  ];
}

/** The engine's secrets one service reads: its password (the engine's own, or its gate user's) and the snapshot key. */
export function engineGrants(engine: Edition, service: ServiceName): { env: string; secret: string; key: string }[] {
  const password = service === VM_WRITER ? 'VM_PASSWORD' : gateUserOf(engine, service)?.passwordKey;
  if (!password) return [];
  return [
    { env: 'VM_PASSWORD', secret: ENGINE_SECRET_NAME, key: password },
    ...(ENGINE_SNAPSHOT_TAKERS.includes(service) ? [{ env: 'VM_SNAPSHOT_KEY', secret: ENGINE_SECRET_NAME, key: 'VM_SNAPSHOT_KEY' }] : []),
  ];
}

/** Who may connect to the engine's read side: the storage and the gate. */
export const ENGINE_CLIENTS: readonly string[] = [VM_WRITER, GATE_NAME];

/** Who may connect to the gate: the services with a gate user. */
export function gateClients(engine: Edition): ServiceName[] {
  return gateUsers(engine).flatMap((u) => u.services);
}
