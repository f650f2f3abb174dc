import { readFileSync } from 'node:fs';
import { loadConfig, SERVICE_NAMES, type Config, type ServiceName } from '@terminusa/config';
import { SERVICE_OPS_PORTS } from '@terminusa/runtime';

/** Ops (health and metrics) port of each service: the runtime's own table, so they cannot drift. */
export const OPS_PORTS: Readonly<Record<ServiceName, number>> = SERVICE_OPS_PORTS;

export interface Autoscaling {
  readonly min: number;
  readonly max: number;
  readonly metric: 'cpu' | 'memory';
  /** Average utilization in percent of the requests. */
  readonly target: number;
}

export interface ResourceSettings {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu: string; readonly memory: string };
}

/** VictoriaMetrics single node: one StatefulSet pod with its volume. */
export interface SingleNodeEngine {
  readonly edition: 'single-node';
  /** Size of the PersistentVolumeClaim. */
  readonly storage: string;
  readonly resources: ResourceSettings;
}

/** The cluster edition: vmstorage nodes (a StatefulSet), vminsert and vmselect (Deployments). */
export interface ClusterEngine {
  readonly edition: 'cluster';
  readonly storageNodes: number;
  /** Copies vminsert writes of each sample, on distinct vmstorage nodes. */
  readonly replicationFactor: number;
  /** Size of each vmstorage node's PersistentVolumeClaim. */
  readonly storage: string;
  readonly storageResources: ResourceSettings;
  /** Replicas of vminsert and of vmselect. */
  readonly frontendReplicas: number;
  readonly frontendResources: ResourceSettings;
}

export type TimeSeriesEngine = SingleNodeEngine | ClusterEngine;

/** Everything that differs between the rendered sets of manifests. */
export interface Overlay {
  readonly name: 'base' | 'dev' | 'prod' | 'cluster';
  readonly namespace: string;
  readonly image: string;
  readonly logLevel: string;
  readonly resources: ResourceSettings;
  /**
   * The node collector's (the DaemonSet `collector-node`, one pod on every node): it reads a few /proc files once a
   * `collection.intervals.system` and publishes them, so it asks for little, and takes it from every node.
   */
  readonly collectorNodeResources: ResourceSettings;
  readonly scaling: Readonly<Record<ServiceName, Autoscaling>>;
  readonly ingressHost: string;
  readonly natsStorage: string;
  readonly natsResources: ResourceSettings;
  /** Size of the backup service's volume (backups and archive; the keyring has a small one of its own). */
  readonly backupStorage: string;
  /** Where the raw samples live: VictoriaMetrics single node, or its cluster edition (`cluster`). */
  readonly timeSeries: TimeSeriesEngine;
}

/** The suite's defaults: the single source of every number below. */
export function defaultConfig(): Readonly<Config> {
  return loadConfig({ env: {} });
}

/** The suite's version, which tags the image. */
export function suiteVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Autoscaling of each service as the configuration's scaling settings give it. */
export function scalingFromConfig(config: Readonly<Config>): Record<ServiceName, Autoscaling> {
  const fromSetting = (s: Config['scaling']['collectors']): Autoscaling =>
    s.targetMemory !== undefined && s.targetCpu === undefined
      ? { min: s.min, max: s.max, metric: 'memory', target: s.targetMemory }
      : { min: s.min, max: s.max, metric: 'cpu', target: s.targetCpu ?? 75 };
  const other: Autoscaling = { min: 2, max: 4, metric: 'cpu', target: 75 };
  return {
    collector: fromSetting(config.scaling.collectors),
    processor: fromSetting(config.scaling.processors),
    storage: other,
    'alert-manager': other,
    backup: other,
    'api-gateway': other,
  };
}

const PROD_RESOURCES: ResourceSettings = { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '2', memory: '2Gi' } };
/** VictoriaMetrics single node and each vmstorage node. */
const VM_RESOURCES: ResourceSettings = { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '2', memory: '4Gi' } };
const DEV_RESOURCES: ResourceSettings = { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } };
/** One Node.js process per node that collects once a minute: a service's floor, in every overlay. */
const COLLECTOR_NODE_RESOURCES: ResourceSettings = { requests: { cpu: '20m', memory: '128Mi' }, limits: { cpu: '500m', memory: '384Mi' } };

/**
 * The overlays as data: `base` and `prod` carry the configuration's numbers, `dev` runs small, and `cluster` is
 * `prod` with the cluster edition of VictoriaMetrics instead of the single node.
 */
export function overlays(config: Readonly<Config> = defaultConfig(), version = suiteVersion()): Record<Overlay['name'], Overlay> {
  const scaling = scalingFromConfig(config);
  const prod: Overlay = {
    name: 'prod',
    namespace: 'monitoring',
    image: `terminusa/monitoring:${version}`,
    logLevel: config.log.level,
    resources: PROD_RESOURCES,
    collectorNodeResources: COLLECTOR_NODE_RESOURCES,
    scaling,
    ingressHost: 'monitoring.terminusa.example',
    natsStorage: '10Gi',
    natsResources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '1', memory: '1Gi' } },
    backupStorage: '50Gi',
    timeSeries: { edition: 'single-node', storage: '20Gi', resources: VM_RESOURCES },
  };
  const devScaling = Object.fromEntries(
    SERVICE_NAMES.map((s) => [s, { ...scaling[s], min: 1, max: Math.min(scaling[s].max, 2) }]),
  ) as Record<ServiceName, Autoscaling>;
  return {
    base: { ...prod, name: 'base' },
    prod,
    // The cluster edition splits the engine's URL in two: VM_URL (reads, vmselect) for storage, api-gateway and
    // backup, and VM_WRITE_URL (writes, vminsert) for the storage alone. Single node uses VM_URL for both.
    cluster: {
      ...prod,
      name: 'cluster',
      timeSeries: {
        edition: 'cluster',
        storageNodes: 2,
        replicationFactor: 2,
        storage: '20Gi',
        storageResources: VM_RESOURCES,
        frontendReplicas: 2,
        frontendResources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
      },
    },
    dev: {
      ...prod,
      name: 'dev',
      namespace: 'monitoring-dev',
      logLevel: 'debug',
      resources: DEV_RESOURCES,
      scaling: devScaling,
      ingressHost: 'monitoring-dev.terminusa.example',
      natsStorage: '1Gi',
      backupStorage: '5Gi',
      natsResources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
      timeSeries: { edition: 'single-node', storage: '20Gi', resources: { requests: { cpu: '50m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } } },
    },
  };
}
