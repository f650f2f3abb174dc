import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { posix } from 'node:path';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig, SERVICE_NAMES } from '@terminusa/config';
import {
  BACKUP_KEYS_DIR,
  BACKUP_SIGNING_DIR,
  BACKUP_SIGNING_SECRET_NAME,
  buildManifests,
  DATABASE_ROLE,
  DATABASE_SECRET_NAME,
  DATABASE_USERS,
  DB_MIGRATE_COMMAND,
  databasePasswordKey,
  databaseRole,
  defaultConfig,
  GATEWAY_SECRET_NAME,
  METRICS_SECRET_NAME,
  COLLECTOR_HOST,
  COLLECTOR_MODE_JOBS,
  COLLECTOR_MODE_SYSTEM,
  COLLECTOR_NODE_NAME,
  COLLECTOR_NODE_OPS_PORT,
  GATEWAY_TRUST_PROXY,
  INGRESS_TLS_SECRET_NAME,
  K8S_DIR,
  NATS_CLUSTER_CONFIG,
  NATS_CONFIG_FILE,
  NATS_CONFIG_MAP_NAME,
  NATS_PERMISSIONS_FILE,
  NATS_ROUTE_PASSWORD_VARIABLE,
  NATS_SECRET_NAME,
  NATS_USERS,
  natsPasswordVariable,
  natsRouteUrlVariable,
  NO_MIGRATE,
  overlayDir,
  OWN_DATABASE_ROLES,
  overlays,
  REDIS_SECRET_NAME,
  REDIS_USERS,
  renderAll,
  SECRET_PLACEHOLDER,
  ENGINE_SECRET_NAME,
  ENGINE_SNAPSHOT_TAKERS,
  GATE_CONFIG_FILE,
  GATE_USERS,
  gateConfig,
  VM_IMAGE,
  VM_SINGLE_NODE_ARGS,
  engineScript,
  OPS_PORTS,
  redisPasswordKey,
} from './index.ts';

const config = defaultConfig();
const all = overlays(config);
/** Every rendered overlay: base, dev, prod and the cluster edition's. */
const OVERLAYS = Object.keys(all);
const SINGLE_NODE = ['base', 'dev', 'prod'];

function onDisk(overlay: string, file: string): any[] {
  return parseAllDocuments(readFileSync(join(K8S_DIR, overlayDir(overlay as 'base'), file), 'utf8')).map((d) => d.toJS());
}

const container = (overlay: string, s: string) => onDisk(overlay, `${s}.yaml`).find((d) => d.kind === 'Deployment').spec.template.spec.containers[0];

/** `<Secret>/<key>` of every secretKeyRef and `<Secret>/*` of every Secret imported whole, in a container. */
function secretRefs(c: any): string[] {
  return [
    ...(c.env ?? []).filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => `${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`),
    ...(c.envFrom ?? []).filter((e: any) => e.secretRef).map((e: any) => `${e.secretRef.name}/*`),
  ].sort();
}

const REPO = join(K8S_DIR, '..');
/** What a service's own code (services/<name>/src, tests left out) opens: PostgreSQL, Redis, the gateway's secrets. */
function usesOf(service: string): { database: boolean; redis: boolean; gatewaySecrets: boolean; engine: boolean; snapshots: boolean } {
  const dir = join(REPO, 'services', service, 'src');
  const text = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
  return {
    database: /\b(openDatabase|createPool)\(/.test(text),
    redis: /\b(openRedis|createRedis|redisOptions)\(|new Redis\(|config\.redis\b/.test(text),
    gatewaySecrets: /\bauth\.(jwtSecret|adminPassword)\b/.test(text),
    engine: /\bnew VictoriaMetrics\(/.test(text),
    // A snapshot taken by hand (the backup's), or one that makes its writes durable (engine.sync).
    snapshots: /\.createSnapshot\(|\bengine\.sync\(/.test(text),
  };
}

describe('deploy manifests', () => {
  for (const overlay of Object.values(all)) {
    it(`every object of ${overlay.name} validates against the Kubernetes schemas`, () => {
      const objects = buildManifests(overlay, config).flatMap((f) => f.objects);
      expect(objects.length).toBeGreaterThan(30);
      for (const o of objects) expect(() => o.validate(), `${o.kind}/${o.metadata?.name}`).not.toThrow();
    });
  }

  it('the files under k8s/ are exactly what render produces (regenerate with pnpm k8s:render)', () => {
    const rendered = renderAll(config);
    for (const [path, text] of rendered) expect(readFileSync(join(K8S_DIR, path), 'utf8'), path).toBe(text);
    expect([...OVERLAYS].sort()).toEqual(['base', 'cluster', 'dev', 'prod']);
    for (const dir of OVERLAYS.map((o) => overlayDir(o as 'base'))) {
      const yamlFiles = readdirSync(join(K8S_DIR, dir)).filter((f) => f.endsWith('.yaml'));
      expect(yamlFiles.map((f) => join(dir, f)).sort()).toEqual([...rendered.keys()].filter((k) => k.startsWith(`${dir}/`)).sort());
    }
  });

  it('the committed HPAs carry the configuration scaling settings', () => {
    const hpa = (overlay: string, service: string) => onDisk(overlay, `${service}.yaml`).find((d) => d.kind === 'HorizontalPodAutoscaler');
    const { collectors, processors } = config.scaling;
    for (const overlay of ['base', 'prod', 'cluster']) {
      const c = hpa(overlay, 'collector');
      expect([c.spec.minReplicas, c.spec.maxReplicas]).toEqual([collectors.min, collectors.max]);
      expect(c.spec.metrics[0].resource).toEqual({ name: 'cpu', target: { type: 'Utilization', averageUtilization: collectors.targetCpu } });
      const p = hpa(overlay, 'processor');
      expect([p.spec.minReplicas, p.spec.maxReplicas]).toEqual([processors.min, processors.max]);
      expect(p.spec.metrics[0].resource).toEqual({ name: 'memory', target: { type: 'Utilization', averageUtilization: processors.targetMemory } });
      for (const s of ['storage', 'alert-manager', 'backup', 'api-gateway']) {
        const h = hpa(overlay, s);
        expect([h.spec.minReplicas, h.spec.maxReplicas, h.spec.metrics[0].resource.target.averageUtilization]).toEqual([2, 4, 75]);
      }
    }
    // The suite's documented defaults, so a change of the configuration is noticed here too.
    expect(collectors).toMatchObject({ min: 2, max: 10, targetCpu: 70 });
    expect(processors).toMatchObject({ min: 2, max: 8, targetMemory: 80 });
    for (const s of SERVICE_NAMES) expect(hpa('dev', s).spec.minReplicas).toBe(1);
  });

  it('leave the count of a scaled Deployment to its HPA, and let disruptions take one pod at a time', () => {
    for (const overlay of OVERLAYS) {
      const docs = readdirSync(join(K8S_DIR, overlayDir(overlay as 'base'))).filter((f) => f.endsWith('.yaml')).flatMap((f) => onDisk(overlay, f));
      const scaled = new Set(docs.filter((d) => d.kind === 'HorizontalPodAutoscaler').map((d) => d.spec.scaleTargetRef.name));
      expect(scaled.size, overlay).toBe(SERVICE_NAMES.length);
      // A count beside the HPA sets a scaled-out service back to its minimum at every apply.
      for (const d of docs.filter((x) => x.kind === 'Deployment' && scaled.has(x.metadata.name))) expect(d.spec.replicas, `${overlay} ${d.metadata.name}`).toBeUndefined();
      // minAvailable 1 let two of three NATS servers go at once, and held every drain of a one-replica service.
      for (const b of docs.filter((x) => x.kind === 'PodDisruptionBudget')) expect(b.spec, `${overlay} ${b.metadata.name}`).toEqual({ maxUnavailable: 1, selector: expect.anything() });
    }
  });

  it('probes point at /health on the ops port with the load-balance timeout', () => {
    for (const overlay of OVERLAYS) {
      for (const s of SERVICE_NAMES) {
        const docs = onDisk(overlay, `${s}.yaml`);
        const pod = docs.find((d) => d.kind === 'Deployment').spec.template.spec;
        const c = pod.containers[0];
        expect(c.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'ops' });
        expect(c.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'ops' });
        expect(c.readinessProbe.timeoutSeconds).toBe(config.loadBalance.timeout);
        expect(c.env).toContainEqual({ name: 'SERVICE', value: s });
        // The gateway waits 5 s, still serving, before its SIGTERM (its preStop hook), so the Ingress drops it first.
        const preStop = s === 'api-gateway' ? 5 : 0;
        expect(c.lifecycle?.preStop).toEqual(preStop ? { exec: { command: ['sleep', '5'] } } : undefined);
        expect(pod.terminationGracePeriodSeconds).toBe(config.shutdownTimeout + 10 + preStop);
        expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      }
    }
  });

  it('applies no Secret: the templates stay out of the kustomization, so a forgotten Secret stops the pods rather than a placeholder becoming the password', () => {
    for (const overlay of OVERLAYS) {
      const { resources } = onDisk(overlay, 'kustomization.yaml')[0];
      expect(resources).not.toContain('secret.template.yaml');
      for (const file of resources as string[]) expect(onDisk(overlay, file).filter((d) => d?.kind === 'Secret'), `${overlay}/${file}`).toEqual([]);
    }
  });

  it('no Secret holds a real value', () => {
    for (const overlay of OVERLAYS) {
      const secrets = readdirSync(join(K8S_DIR, overlayDir(overlay as 'base')))
        .filter((f) => f.endsWith('.yaml'))
        .flatMap((f) => onDisk(overlay, f))
        .filter((d) => d?.kind === 'Secret');
      expect(secrets.length).toBeGreaterThan(0);
      expect(secrets.map((s) => s.metadata.name).sort()).toEqual([DATABASE_SECRET_NAME, ENGINE_SECRET_NAME, GATEWAY_SECRET_NAME, METRICS_SECRET_NAME, NATS_SECRET_NAME, REDIS_SECRET_NAME].sort());
      const keys: Record<string, string[]> = {
        [GATEWAY_SECRET_NAME]: ['ADMIN_PASSWORD', 'JWT_SECRET'],
        [METRICS_SECRET_NAME]: ['OPS_METRICS_TOKEN'],
        [DATABASE_SECRET_NAME]: ['ALERT_MANAGER_DATABASE_PASSWORD', 'BACKUP_DATABASE_PASSWORD', 'DATABASE_PASSWORD', 'GATEWAY_DATABASE_PASSWORD', 'STORAGE_DATABASE_PASSWORD'],
        [REDIS_SECRET_NAME]: REDIS_USERS.map(redisPasswordKey).sort(),
        // The gate's users' passwords beside the engine's own: the backup's only where it takes snapshots.
        [ENGINE_SECRET_NAME]: ['VM_DELETE_KEY', 'VM_PASSWORD', 'VM_READER_PASSWORD', 'VM_SNAPSHOT_KEY', ...(overlay === 'cluster' ? [] : ['VM_BACKUP_PASSWORD'])].sort(),
        [NATS_SECRET_NAME]: [...NATS_USERS.map(natsPasswordVariable), NATS_ROUTE_PASSWORD_VARIABLE].sort(),
      };
      for (const s of secrets) {
        expect(s.data).toBeUndefined();
        expect(Object.keys(s.stringData).sort()).toEqual(keys[s.metadata.name as string]);
        for (const v of Object.values(s.stringData)) expect(v).toBe(SECRET_PLACEHOLDER);
      }
    }
  });

  it('every service connects to NATS as its own user, with its password from the NATS Secret', () => {
    for (const overlay of OVERLAYS) {
      expect(onDisk(overlay, 'configmap.yaml')[0].data.NATS_URL, 'no shared NATS_URL').toBeUndefined();
      for (const s of SERVICE_NAMES) {
        const c = onDisk(overlay, `${s}.yaml`).find((d) => d.kind === 'Deployment').spec.template.spec.containers[0];
        const env = (name: string) => c.env.filter((e: any) => e.name === name);
        expect(env('NATS_URL'), `${overlay}/${s}`).toEqual([{ name: 'NATS_URL', value: `nats://${s}@nats:4222` }]);
        expect(env('NATS_PASSWORD'), `${overlay}/${s}`).toEqual([
          { name: 'NATS_PASSWORD', valueFrom: { secretKeyRef: { name: NATS_SECRET_NAME, key: natsPasswordVariable(s) } } },
        ]);
        // Only its own password: no Secret is imported whole.
        expect(c.envFrom.map((e: any) => e.secretRef?.name).filter(Boolean)).toEqual([]);
        // Every other secret-looking variable comes from a Secret too.
        for (const e of c.env.filter((x: any) => /PASSWORD|SECRET/.test(x.name))) expect(e.valueFrom?.secretKeyRef, `${overlay}/${s} ${e.name}`).toBeDefined();
      }
    }
  });

  it('the NATS StatefulSet runs nats-cluster.conf (nats.conf and the cluster) with the permissions from a ConfigMap and the passwords from the Secret', () => {
    for (const overlay of OVERLAYS) {
      const docs = onDisk(overlay, 'nats.yaml');
      const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === NATS_CONFIG_MAP_NAME);
      expect(Object.keys(cm.data).sort()).toEqual([NATS_CLUSTER_CONFIG, 'nats.conf', 'permissions.conf']);
      expect(cm.data['nats.conf']).toBe(readFileSync(NATS_CONFIG_FILE, 'utf8'));
      expect(cm.data['permissions.conf']).toBe(readFileSync(NATS_PERMISSIONS_FILE, 'utf8'));
      expect(cm.data['nats.conf']).toMatch(/^include \.\/permissions\.conf$/m);
      // The cluster is Kubernetes' only: compose's single server runs nats.conf, which has none.
      expect(cm.data['nats.conf']).not.toMatch(/^\s*cluster\b/m);
      const clusterConf: string = cm.data[NATS_CLUSTER_CONFIG];
      expect(clusterConf).toMatch(/^include \.\/nats\.conf$/m);
      expect(clusterConf).toMatch(/^cluster \{\n {2}name: terminusa\n {2}listen: "0\.0\.0\.0:6222"$/m);
      expect(clusterConf).toMatch(/^ {2}authorization \{\n {4}user: "route"\n {4}password: \$TMON_NATS_ROUTE_PASSWORD$/m);
      expect(clusterConf).toMatch(/^ {2}routes: \[\n {4}\$TMON_NATS_ROUTE_URL_0\n {4}\$TMON_NATS_ROUTE_URL_1\n {4}\$TMON_NATS_ROUTE_URL_2\n {2}\]$/m);
      // Route TLS shipped commented out (nats-routes.test.ts runs it).
      expect(clusterConf).toMatch(/^ {2}# tls \{$/m);
      const statefulSet = docs.find((d) => d.kind === 'StatefulSet');
      const pod = statefulSet.spec.template.spec;
      const c = pod.containers[0];
      // Everything is in the file: no cluster flags.
      expect(c.args).toEqual(['--config=/etc/nats/nats-cluster.conf']);
      // Still a 3-node cluster: every pod routes to all three as the route user, with the Secret's route password.
      const env = Object.fromEntries(c.env.map((e: any) => [e.name, e]));
      expect(env.POD_NAME).toEqual({ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
      const namespace = all[overlay as 'prod'].namespace;
      expect(env.TMON_NATS_CLUSTER_ADVERTISE.value).toBe(`$(POD_NAME).nats-headless.${namespace}.svc.cluster.local:6222`);
      for (let i = 0; i < 3; i++) {
        expect(env[natsRouteUrlVariable(i)].value).toBe(`nats-route://route:$(TMON_NATS_ROUTE_PASSWORD)@nats-${i}.nats-headless.${namespace}.svc.cluster.local:6222`);
      }
      expect(env[natsRouteUrlVariable(3)]).toBeUndefined();
      expect(c.envFrom).toEqual([{ secretRef: { name: NATS_SECRET_NAME } }]);
      expect(c.volumeMounts).toContainEqual({ name: 'config', mountPath: '/etc/nats', readOnly: true });
      expect(pod.volumes).toEqual([{ name: 'config', configMap: { name: NATS_CONFIG_MAP_NAME } }]);
      // The hash covers all three files: a change of any rolls the pods.
      expect(statefulSet.spec.template.metadata.annotations['terminusa.io/nats-config-sha256']).toBe(createHash('sha256').update(JSON.stringify(cm.data)).digest('hex'));
    }
  });

  it('runs VictoriaMetrics single node as a StatefulSet of one pod with its own PVC and probes on /health', () => {
    for (const overlay of SINGLE_NODE) {
      const docs = onDisk(overlay, 'victoria-metrics.yaml');
      expect(onDisk(overlay, 'kustomization.yaml')[0].resources).toContain('victoria-metrics.yaml');
      const sts = docs.find((d) => d.kind === 'StatefulSet');
      expect(sts.metadata.name).toBe('victoria-metrics');
      expect(sts.spec.replicas).toBe(1);
      expect(sts.spec.serviceName).toBe('victoria-metrics');
      const c = sts.spec.template.spec.containers[0];
      expect(c.image).toBe('victoriametrics/victoria-metrics:v1.79.5');
      expect(c.args).toEqual(['-storageDataPath=/storage', '-retentionPeriod=2d', '-dedup.minScrapeInterval=1ms', '-maxLabelsPerTimeseries=36', '-httpListenAddr=:8428', '-httpAuth.username=terminusa', '-envflag.enable', '-envflag.prefix=VM_']);
      // Its credentials from the engine's own Secret, as files its start script (docker-compose.yml's) refuses empty
      // and hands to the server in its environment (-envflag.*), never on the command line.
      expect(c.env).toBeUndefined();
      expect(c.command).toEqual(['sh', '-c', engineScript('victoria-metrics-prod'), 'victoria-metrics']);
      expect(c.volumeMounts).toContainEqual({ name: 'credentials', mountPath: '/run/secrets', readOnly: true });
      expect(sts.spec.template.spec.volumes).toContainEqual({
        name: 'credentials',
        secret: { secretName: 'terminusa-engine', defaultMode: 0o440, items: ['VM_PASSWORD', 'VM_SNAPSHOT_KEY', 'VM_DELETE_KEY'].map((key) => ({ key, path: key.toLowerCase() })) },
      });
      expect(c.ports).toEqual([{ name: 'http', containerPort: 8428, protocol: 'TCP' }]);
      for (const probe of [c.livenessProbe, c.readinessProbe]) expect(probe.httpGet).toEqual({ path: '/health', port: 'http' });
      // The data on a PersistentVolumeClaim of 20Gi, mounted where -storageDataPath points.
      expect(sts.spec.volumeClaimTemplates).toEqual([
        { metadata: { name: 'storage' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } } } },
      ]);
      expect(c.volumeMounts).toContainEqual({ name: 'storage', mountPath: '/storage' });
      expect(sts.spec.template.spec.volumes.map((v: any) => v.name)).not.toContain('storage');
      expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      // The Service the URL names, headless for the StatefulSet, on the pod's port 8428.
      const svc = docs.find((d) => d.kind === 'Service');
      expect(svc.metadata.name).toBe('victoria-metrics');
      expect(svc.spec.clusterIP).toBe('None');
      expect(svc.spec.selector).toEqual(sts.spec.selector.matchLabels);
      expect(sts.spec.template.metadata.labels).toMatchObject(svc.spec.selector);
      expect(svc.spec.ports).toEqual([{ name: 'http', port: 8428, targetPort: 'http', protocol: 'TCP' }]);
    }
    expect(VM_IMAGE).toBe('victoriametrics/victoria-metrics:v1.79.5');
    expect(VM_SINGLE_NODE_ARGS).toEqual(onDisk('prod', 'victoria-metrics.yaml').find((d) => d.kind === 'StatefulSet').spec.template.spec.containers[0].args);
  });

  it('gives every service its pod IP to advertise, where the collector\'s self-scrape reaches it', () => {
    expect(loadConfig({ env: { POD_IP: '10.0.0.7' } }).ops.address).toBe('10.0.0.7');
    for (const overlay of OVERLAYS) {
      for (const s of SERVICE_NAMES) {
        const c = onDisk(overlay, `${s}.yaml`).find((d) => d.kind === 'Deployment').spec.template.spec.containers[0];
        expect(c.env.filter((e: any) => e.name === 'POD_IP'), `${overlay}/${s}`).toEqual([{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }]);
      }
    }
  });

  it('collects the system metrics once per node, in a DaemonSet on the node\'s network and PID namespaces, tagged with the node; the Deployment runs the jobs', () => {
    expect(loadConfig({ env: { [COLLECTOR_HOST.name]: 'node-7' } }).collection.tags.host).toBe('node-7');
    for (const overlay of OVERLAYS) {
      const files = onDisk(overlay, 'kustomization.yaml')[0].resources as string[];
      expect(files, overlay).toContain(`${COLLECTOR_NODE_NAME}.yaml`);
      const docs = readdirSync(join(K8S_DIR, overlayDir(overlay as 'base'))).filter((f) => f.endsWith('.yaml')).flatMap((f) => onDisk(overlay, f));
      const [daemonSet, ...others] = docs.filter((d) => d?.kind === 'DaemonSet');
      expect(others, `${overlay}: one DaemonSet`).toEqual([]);
      expect(daemonSet.metadata).toMatchObject({ name: COLLECTOR_NODE_NAME, namespace: all[overlay as 'prod'].namespace });
      const pod = daemonSet.spec.template.spec;
      // The node's own /proc/net/dev and /proc, and the cluster's DNS (nats, redis) from the node's network.
      expect([pod.hostNetwork, pod.hostPID, pod.dnsPolicy], overlay).toEqual([true, true, 'ClusterFirstWithHostNet']);
      expect(pod.hostIPC, overlay).toBeUndefined();
      // On every node, tainted or not, as node-exporter.
      expect(pod.tolerations, overlay).toEqual([{ operator: 'Exists' }]);
      expect(pod.nodeSelector, overlay).toBeUndefined();
      // One pod per node at any time: the old one stops before the new one binds the node's port.
      expect(daemonSet.spec.updateStrategy, overlay).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
      // Its own selector: neither the Deployment, nor its HPA, PDB, Service or NetworkPolicy takes these pods.
      expect(daemonSet.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': COLLECTOR_NODE_NAME });
      expect(daemonSet.spec.template.metadata.labels).toMatchObject(daemonSet.spec.selector.matchLabels);
      const selects = (sel: any) => sel && Object.entries<string>(sel).every(([k, v]) => daemonSet.spec.template.metadata.labels[k] === v);
      for (const d of docs.filter((x) => ['Deployment', 'Service', 'PodDisruptionBudget'].includes(x?.kind))) {
        expect(selects(d.spec.selector?.matchLabels ?? d.spec.selector), `${overlay} ${d.kind}/${d.metadata.name}`).toBe(false);
      }
      // No HPA (one pod a node) and no PDB (a drain does not evict it).
      expect(docs.filter((d) => d.kind === 'HorizontalPodAutoscaler' && d.spec.scaleTargetRef.name === COLLECTOR_NODE_NAME)).toEqual([]);
      const c = pod.containers[0];
      expect(c.image).toBe(all[overlay as 'prod'].image);
      // The same hardened container as the Deployment's, and pod-level non-root with the runtime's seccomp profile.
      const deploymentPod = onDisk(overlay, 'collector.yaml').find((d) => d.kind === 'Deployment').spec.template.spec;
      expect(c.securityContext).toEqual(deploymentPod.containers[0].securityContext);
      expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(c.securityContext.privileged).toBeUndefined();
      expect(c.securityContext.capabilities.add).toBeUndefined();
      // The Deployment's pod security context (the collector's has no supplementalGroups, the backup's alone).
      expect(pod.securityContext).toEqual(deploymentPod.securityContext);
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.volumes.every((v: any) => v.emptyDir), `${overlay}: no hostPath`).toBe(true);
      // Modest: a fraction of a service's.
      expect(c.resources).toEqual({ requests: all[overlay as 'prod'].collectorNodeResources.requests, limits: all[overlay as 'prod'].collectorNodeResources.limits });
      // The collector's user, password keys and metrics token: exactly the Deployment's secrets.
      expect(secretRefs(c)).toEqual(secretRefs(deploymentPod.containers[0]));
      // What the collector makes of its environment (the Secrets' values in place; the downward API's too).
      const downward: Record<string, string> = { 'spec.nodeName': 'node-7', 'status.podIP': '10.0.0.7' };
      const envOf = (x: any) => ({
        ...onDisk(overlay, 'configmap.yaml')[0].data,
        ...Object.fromEntries(x.env.map((e: any) => [e.name, e.value ?? downward[e.valueFrom.fieldRef?.fieldPath] ?? `${e.name.toLowerCase()}-0123456789abcdef-0123456789abcdef`])),
      });
      const settings = loadConfig({ env: envOf(c) });
      expect(settings.collection.mode).toBe('system');
      expect(settings.collection.tags.host).toBe('node-7');
      expect(c.env.filter((e: any) => e.name === COLLECTOR_HOST.name)).toEqual([COLLECTOR_HOST]);
      expect(c.env).toContainEqual({ ...COLLECTOR_MODE_SYSTEM });
      expect(settings.nats.url).toMatch(/^nats:\/\/collector:[^@]+@nats:4222$/);
      expect(settings.redis.url).toMatch(/^redis:\/\/collector:[^@]+@redis:6379$/);
      // Its ops server on the node's address (a hostNetwork pod's IP) at a port of its own on the node, advertised there.
      expect([settings.ops.port, settings.ops.host, settings.ops.address]).toEqual([COLLECTOR_NODE_OPS_PORT, '10.0.0.7', '10.0.0.7']);
      expect(c.ports).toEqual([{ name: 'ops', containerPort: COLLECTOR_NODE_OPS_PORT, hostPort: COLLECTOR_NODE_OPS_PORT, protocol: 'TCP' }]);
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) expect(probe.httpGet.port).toBe('ops');
      // The Deployment: scrapes and probes only, and no host tag (it would only mark scraped series with the node of
      // whichever replica ran the job).
      const jobs = loadConfig({ env: envOf(deploymentPod.containers[0]) });
      expect(jobs.collection.mode, overlay).toBe('jobs');
      expect(deploymentPod.containers[0].env).toContainEqual({ ...COLLECTOR_MODE_JOBS });
      expect(jobs.collection.tags.host, overlay).toBeUndefined();
      expect(deploymentPod.hostNetwork).toBeUndefined();
      // Nothing else runs in system or all mode: the node's metrics come from the DaemonSet alone.
      expect(docs.filter((d) => d?.kind === 'ConfigMap' && d.data?.TMON_COLLECTION__MODE)).toEqual([]);
    }
  });

  it('gives the node collector a port no other pod of the node binds, and lets it reach NATS from the node\'s address', () => {
    // Clear of node-exporter (9100), the suite's own ports (in their pods' networks) and the kubelet's and kube-proxy's.
    expect([9100, ...Object.values(OPS_PORTS), 10248, 10249, 10250, 10256]).not.toContain(COLLECTOR_NODE_OPS_PORT);
    for (const overlay of OVERLAYS) {
      const docs = readdirSync(join(K8S_DIR, overlayDir(overlay as 'base'))).filter((f) => f.endsWith('.yaml')).flatMap((f) => onDisk(overlay, f));
      const pods = docs.filter((d) => d?.spec?.template?.spec).map((d) => [`${d.kind}/${d.metadata.name}`, d.spec.template.spec] as const);
      const hostPorts = pods.flatMap(([name, pod]) => pod.containers.flatMap((c: any) => (c.ports ?? []).filter((p: any) => p.hostPort || pod.hostNetwork).map((p: any) => [name, p.hostPort ?? p.containerPort])));
      expect(hostPorts, overlay).toEqual([[`DaemonSet/${COLLECTOR_NODE_NAME}`, COLLECTOR_NODE_OPS_PORT]]);
      // A pod of the node's network is governed by no NetworkPolicy; its traffic comes from the node's address, which
      // NATS' client port admits (no `from`: every source, as game services in their own namespaces).
      const policies = onDisk(overlay, 'network-policies.yaml');
      const nats = policies.find((p) => p.metadata.name === 'allow-nats');
      expect(nats.spec.ingress.find((r: any) => r.ports[0].port === 4222)).toEqual({ ports: [{ protocol: 'TCP', port: 4222 }] });
      for (const p of policies.filter((x) => Object.keys(x.spec.podSelector).length)) {
        expect(p.spec.podSelector.matchLabels?.['app.kubernetes.io/name'], p.metadata.name).not.toBe(COLLECTOR_NODE_NAME);
      }
    }
  });

  it('has the gateway trust one hop, the Ingress controller, the only way in from outside', () => {
    expect(loadConfig({ env: { [GATEWAY_TRUST_PROXY.name]: GATEWAY_TRUST_PROXY.value } }).gateway.trustProxy).toBe(1);
    for (const overlay of OVERLAYS) {
      expect(Object.keys(onDisk(overlay, 'configmap.yaml')[0].data)).not.toContain(GATEWAY_TRUST_PROXY.name);
      for (const s of SERVICE_NAMES) {
        const c = onDisk(overlay, `${s}.yaml`).find((d) => d.kind === 'Deployment').spec.template.spec.containers[0];
        expect(c.env.filter((e: any) => e.name === GATEWAY_TRUST_PROXY.name), `${overlay}/${s}`).toEqual(s === 'api-gateway' ? [{ ...GATEWAY_TRUST_PROXY }] : []);
      }
      // No NodePort or LoadBalancer: from outside the cluster, requests reach the gateway through the Ingress only.
      expect(onDisk(overlay, 'api-gateway.yaml').find((d) => d.kind === 'Service').spec.type).toBe('ClusterIP');
      const [ingress] = onDisk(overlay, 'ingress.yaml');
      expect(ingress.spec.ingressClassName).toBe('nginx');
      expect(ingress.spec.rules.flatMap((r: any) => r.http.paths.map((p: any) => p.backend.service.name))).toEqual(['api-gateway']);
    }
  });

  it('sets VM_URL on the storage (the engine) and on api-gateway, alert-manager and the single node’s backup (the gate, each as its user), and VM_WRITE_URL only on the cluster edition’s storage', () => {
    const single = { read: 'http://victoria-metrics:8428' };
    const urls: Record<string, { read: string; write?: string }> = {
      base: single,
      dev: single,
      prod: single,
      cluster: { read: 'http://vmselect:8481/select/0/prometheus', write: 'http://vminsert:8480/insert/0/prometheus' },
    };
    for (const overlay of OVERLAYS) {
      // Not in the ConfigMap every service imports.
      expect(Object.keys(onDisk(overlay, 'configmap.yaml')[0].data).filter((k) => k.startsWith('VM_'))).toEqual([]);
      for (const s of SERVICE_NAMES) {
        const c = onDisk(overlay, `${s}.yaml`).find((d) => d.kind === 'Deployment').spec.template.spec.containers[0];
        const expected: { name: string; value: string }[] = [];
        if (s === 'storage') expected.push({ name: 'VM_URL', value: urls[overlay]!.read });
        const user = ({ 'api-gateway': 'reader', 'alert-manager': 'reader', backup: overlay === 'cluster' ? undefined : 'backup' } as Record<string, string | undefined>)[s];
        if (user) expected.push({ name: 'VM_URL', value: 'http://vmauth:8427' }, { name: 'VM_USERNAME', value: user });
        if (s === 'storage' && urls[overlay]!.write) expected.push({ name: 'VM_WRITE_URL', value: urls[overlay]!.write });
        expect(c.env.filter((e: any) => e.name.startsWith('VM_') && 'value' in e), `${overlay}/${s}`).toEqual(expected);
        expect(c.env.filter((e: any) => e.name.startsWith('TMON_STORAGE__ENGINE')).length, `${overlay}/${s}`).toBe(overlay === 'cluster' && s === 'storage' ? 1 : 0);
        if (s !== 'storage') continue;
        // What the storage's configuration makes of them (storage.engine): single node reads and writes at VM_URL.
        const env = Object.fromEntries(c.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
        const engine = loadConfig({ env }).storage.engine;
        expect(engine.url).toBe(urls[overlay]!.read);
        expect(engine.writeUrl).toBe(urls[overlay]!.write);
        expect(engine.durability, overlay).toBe(overlay === 'cluster' ? 'replication' : 'snapshot');
      }
    }
  });

  it('the cluster overlay runs vmstorage (2 nodes, a PVC each), vminsert with replicationFactor 2 and vmselect with deduplication', () => {
    const { resources } = onDisk('cluster', 'kustomization.yaml')[0];
    expect(resources).toContain('victoria-metrics-cluster.yaml');
    expect(resources).not.toContain('victoria-metrics.yaml');
    const docs = onDisk('cluster', 'victoria-metrics-cluster.yaml');
    const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
    const container = (kind: string, name: string) => find(kind, name).spec.template.spec.containers[0];

    const storage = find('StatefulSet', 'vmstorage');
    expect(storage.spec.replicas).toBe(2);
    expect(storage.spec.serviceName).toBe('vmstorage');
    expect(storage.spec.volumeClaimTemplates).toEqual([
      { metadata: { name: 'storage' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } } } },
    ]);
    expect(container('StatefulSet', 'vmstorage').image).toBe('victoriametrics/vmstorage:v1.79.5-cluster');
    expect(container('StatefulSet', 'vmstorage').args).toEqual(
      expect.arrayContaining(['-storageDataPath=/storage', '-retentionPeriod=2d', '-vminsertAddr=:8400', '-vmselectAddr=:8401']),
    );
    expect(container('StatefulSet', 'vmstorage').volumeMounts).toContainEqual({ name: 'storage', mountPath: '/storage' });
    // Headless, so vmstorage-0.vmstorage and vmstorage-1.vmstorage resolve to the pods.
    expect(find('Service', 'vmstorage').spec.clusterIP).toBe('None');
    expect(find('Service', 'vmstorage').spec.ports.map((p: any) => p.port)).toEqual([8482, 8400, 8401]);

    const insert = container('Deployment', 'vminsert');
    expect(insert.image).toBe('victoriametrics/vminsert:v1.79.5-cluster');
    const credentials = ['-httpAuth.username=terminusa', '-envflag.enable', '-envflag.prefix=VM_'];
    expect(insert.args).toEqual(['-storageNode=vmstorage-0.vmstorage:8400,vmstorage-1.vmstorage:8400', '-replicationFactor=2', '-maxLabelsPerTimeseries=36', '-httpListenAddr=:8480', ...credentials]);
    const select = container('Deployment', 'vmselect');
    expect(select.image).toBe('victoriametrics/vmselect:v1.79.5-cluster');
    // vmselect reads from vmstorage's vmselect port, 8401 (8400 takes vminsert's writes).
    expect(select.args).toEqual(['-storageNode=vmstorage-0.vmstorage:8401,vmstorage-1.vmstorage:8401', '-dedup.minScrapeInterval=1ms', '-httpListenAddr=:8481', ...credentials]);
    // Each through the same start script as the single node, its image's binary, the Secret's keys as files.
    for (const name of ['vminsert', 'vmselect', 'vmstorage']) {
      const c = container(name === 'vmstorage' ? 'StatefulSet' : 'Deployment', name);
      expect(c.env, name).toBeUndefined();
      expect(c.command, name).toEqual(['sh', '-c', engineScript(`${name}-prod`), name]);
      expect(c.volumeMounts, name).toContainEqual({ name: 'credentials', mountPath: '/run/secrets', readOnly: true });
    }
    expect(all.cluster.timeSeries).toMatchObject({ edition: 'cluster', storageNodes: 2, replicationFactor: 2 });

    for (const [name, port] of [['vminsert', 8480], ['vmselect', 8481], ['vmstorage', 8482]] as const) {
      const c = container(name === 'vmstorage' ? 'StatefulSet' : 'Deployment', name);
      expect(c.ports[0]).toEqual({ name: 'http', containerPort: port, protocol: 'TCP' });
      for (const probe of [c.livenessProbe, c.readinessProbe]) expect(probe.httpGet, name).toEqual({ path: '/health', port: 'http' });
      expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(find('Service', name).spec.selector).toEqual({ 'app.kubernetes.io/name': name });
      expect(find('PodDisruptionBudget', name).spec).toMatchObject({ maxUnavailable: 1 });
    }
    expect(find('Service', 'vminsert').spec.ports).toEqual([{ name: 'http', port: 8480, targetPort: 'http', protocol: 'TCP' }]);
    expect(find('Service', 'vmselect').spec.ports).toEqual([{ name: 'http', port: 8481, targetPort: 'http', protocol: 'TCP' }]);
    expect(docs.filter((d) => d.metadata.name === 'victoria-metrics')).toEqual([]);
  });

  it('lets only the services that use the engine through the default deny', () => {
    const allowed = (overlay: string, name: string) => {
      const p = onDisk(overlay, 'network-policies.yaml').find((d) => d.metadata.name === `allow-${name}`);
      return p.spec.ingress.map((r: any) => [r.from[0].podSelector.matchExpressions[0].values, r.ports[0].port]);
    };
    // The storage and the gate reach the engine; the readers and the backup only the gate.
    for (const overlay of SINGLE_NODE) {
      expect(allowed(overlay, 'victoria-metrics')).toEqual([[['storage', 'vmauth'], 8428]]);
      expect(allowed(overlay, 'vmauth')).toEqual([[['api-gateway', 'alert-manager', 'backup'], 8427]]);
    }
    expect(allowed('cluster', 'vminsert')).toEqual([[['storage'], 8480]]);
    expect(allowed('cluster', 'vmselect')).toEqual([[['storage', 'vmauth'], 8481]]);
    expect(allowed('cluster', 'vmauth')).toEqual([[['api-gateway', 'alert-manager'], 8427]]);
    expect(allowed('cluster', 'vmstorage')).toEqual([
      [['vminsert'], 8400],
      [['vmselect'], 8401],
    ]);
  });

  it('gives each service the keys of the Secrets it uses and no other: the gateway alone sees JWT_SECRET and ADMIN_PASSWORD', () => {
    // The source is the judge: what each service's code opens decides what it may read.
    const uses = Object.fromEntries(SERVICE_NAMES.map((s) => [s, usesOf(s)]));
    expect(SERVICE_NAMES.filter((s) => uses[s]!.database)).toEqual([...DATABASE_USERS].sort((a, b) => SERVICE_NAMES.indexOf(a) - SERVICE_NAMES.indexOf(b)));
    expect(SERVICE_NAMES.filter((s) => uses[s]!.redis)).toEqual([...REDIS_USERS]);
    expect(SERVICE_NAMES.filter((s) => uses[s]!.gatewaySecrets)).toEqual(['api-gateway']);
    // The storage with the engine's own password, the others each with its gate user's.
    expect(SERVICE_NAMES.filter((s) => uses[s]!.engine)).toEqual(SERVICE_NAMES.filter((s) => s === 'storage' || GATE_USERS.some((u) => u.services.includes(s))));
    // Of them, the storage takes snapshots for its durability and the backup for its backups; no service deletes.
    expect(SERVICE_NAMES.filter((s) => uses[s]!.snapshots)).toEqual(SERVICE_NAMES.filter((s) => ENGINE_SNAPSHOT_TAKERS.includes(s)));
    const enginePasswords: Record<string, string | undefined> = { storage: 'VM_PASSWORD', 'api-gateway': 'VM_READER_PASSWORD', 'alert-manager': 'VM_READER_PASSWORD', backup: 'VM_BACKUP_PASSWORD' };
    const enginePassword = (overlay: string, s: string) => (overlay === 'cluster' && s === 'backup' ? undefined : enginePasswords[s]);
    expect(DATABASE_USERS).not.toContain('collector');
    for (const overlay of OVERLAYS) {
      for (const s of SERVICE_NAMES) {
        const u = uses[s]!;
        const expected = [
          `${NATS_SECRET_NAME}/${natsPasswordVariable(s)}`,
          // Every ops server wants the scrapers' token for /metrics.
          `${METRICS_SECRET_NAME}/OPS_METRICS_TOKEN`,
          // Its own role's password, never the owner's (DATABASE_PASSWORD: the db-migrate Job's alone).
          ...(u.database ? [`${DATABASE_SECRET_NAME}/${({ 'api-gateway': 'GATEWAY_DATABASE_PASSWORD', 'alert-manager': 'ALERT_MANAGER_DATABASE_PASSWORD', storage: 'STORAGE_DATABASE_PASSWORD', backup: 'BACKUP_DATABASE_PASSWORD' } as Record<string, string>)[s]}`] : []),
          ...(u.redis ? [`${REDIS_SECRET_NAME}/${redisPasswordKey(s)}`] : []),
          ...(u.gatewaySecrets ? [`${GATEWAY_SECRET_NAME}/ADMIN_PASSWORD`, `${GATEWAY_SECRET_NAME}/JWT_SECRET`] : []),
          // The cluster's backup takes no snapshot: no engine credential at all.
          ...(u.engine && enginePassword(overlay, s) ? [`${ENGINE_SECRET_NAME}/${enginePassword(overlay, s)}`] : []),
          ...(ENGINE_SNAPSHOT_TAKERS.includes(s) && enginePassword(overlay, s) ? [`${ENGINE_SECRET_NAME}/VM_SNAPSHOT_KEY`] : []),
        ].sort();
        const c = container(overlay, s);
        expect(secretRefs(c), `${overlay}/${s}`).toEqual(expected);
        const names = c.env.map((e: any) => e.name);
        expect(names.includes('JWT_SECRET') || names.includes('ADMIN_PASSWORD'), `${overlay}/${s}`).toBe(s === 'api-gateway');
        expect(names.includes('DATABASE_URL'), `${overlay}/${s}: no database URL where PostgreSQL is not used`).toBe(u.database);
      }
      // Nor the NATS pods or the bootstrap Job: the NATS Secret only.
      const sts = onDisk(overlay, 'nats.yaml').find((d) => d.kind === 'StatefulSet').spec.template.spec.containers[0];
      expect(secretRefs(sts)).toEqual([`${NATS_SECRET_NAME}/*`]);
      const job = onDisk(overlay, 'nats-bootstrap.yaml')[0].spec.template.spec.containers[0];
      expect(secretRefs(job)).toEqual([`${NATS_SECRET_NAME}/${natsPasswordVariable('bootstrap')}`]);
      // And no secret in the ConfigMap every service imports.
      expect(Object.keys(onDisk(overlay, 'configmap.yaml')[0].data).filter((k) => /PASSWORD|SECRET|DATABASE_URL/.test(k)), overlay).toEqual([]);
    }
  });

  it('every service logs in to Redis as its own ACL user, with its own key of the Redis Secret, which the config writes into REDIS_URL', () => {
    for (const overlay of OVERLAYS) {
      const data = onDisk(overlay, 'configmap.yaml')[0].data;
      expect(data.REDIS_URL).toBeUndefined();
      for (const s of REDIS_USERS) {
        const c = container(overlay, s);
        expect(c.env.filter((e: any) => e.name === 'REDIS_PASSWORD'), `${overlay}/${s}`).toEqual([
          { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: REDIS_SECRET_NAME, key: redisPasswordKey(s) } } },
        ]);
        expect(c.env.find((e: any) => e.name === 'REDIS_URL')?.value, `${overlay}/${s}`).toBe(`redis://${s}@redis:6379`);
        // What the service's configuration makes of it, with the Secret's value in place.
        const env = { ...data, ...Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? `${e.name.toLowerCase()}-0123456789abcdef-0123456789abcdef`])) };
        expect(loadConfig({ env }).redis.url, `${overlay}/${s}`).toBe(`redis://${s}:redis_password-0123456789abcdef-0123456789abcdef@redis:6379`);
      }
    }
  });

  it('every service logs in to PostgreSQL as a role of its own (made by deploy/postgres/roles.sql), never as the owner or the superuser; the db-migrate Job alone as the owner', () => {
    const rolesSql = readFileSync(join(REPO, 'deploy', 'postgres', 'roles.sql'), 'utf8');
    expect(rolesSql).toMatch(new RegExp(`^\\s*\\\\set role ${DATABASE_ROLE}$`, 'm'));
    expect(rolesSql).toMatch(/NOSUPERUSER NOCREATEROLE CREATEDB/);
    expect(DATABASE_ROLE).not.toBe('postgres');
    // roles.sql's defaults are the configuration's, and its password variables the Secret's keys.
    const own = {
      'api-gateway': ['gateway_role', 'terminusa_gateway'],
      'alert-manager': ['alert_manager_role', 'terminusa_alert_manager'],
      storage: ['storage_role', 'terminusa_storage'],
      backup: ['backup_role', 'terminusa_backup'],
    } as const;
    expect(Object.keys(OWN_DATABASE_ROLES).sort()).toEqual(Object.keys(own).sort());
    expect(DATABASE_USERS.filter((s) => !OWN_DATABASE_ROLES[s])).toEqual([]);
    for (const [s, [variable, role]] of Object.entries(own)) {
      expect(databaseRole(s as 'api-gateway', config)).toBe(role);
      expect(rolesSql).toMatch(new RegExp(`^\\s*\\\\set ${variable} ${role}$`, 'm'));
      expect(rolesSql).toContain(`\\getenv ${variable.replace(/_role$/, '_password')} ${databasePasswordKey(s as 'api-gateway')}`);
    }
    // The services' roles make no databases, backup's alone (its restore drills).
    expect(rolesSql).toMatch(/NOSUPERUSER %s NOCREATEROLE/);
    expect(rolesSql).toContain(`CASE WHEN v.name = :'backup_role' THEN 'CREATEDB' ELSE 'NOCREATEDB' END`);
    for (const overlay of OVERLAYS) {
      for (const s of DATABASE_USERS) {
        const c = container(overlay, s);
        const pw = 'pw-0123456789abcdef-0123456789abcdef';
        const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? pw]));
        const role = own[s as keyof typeof own][1];
        expect(env.DATABASE_URL, `${overlay}/${s}`).toBe(`postgres://${role}@postgres:5432/terminusa`);
        expect(env.PGPASSWORD, 'the config carries the password, not node-postgres’ PGPASSWORD').toBeUndefined();
        const settings = loadConfig({ env }).database;
        expect(settings.url).toBe(`postgres://${role}:${pw}@postgres:5432/terminusa`);
        // No service migrates: a role without DDL waits for db-migrate.
        expect(settings.migrate, `${overlay}/${s}`).toBe(false);
        expect(c.env.filter((e: any) => e.name === NO_MIGRATE.name), `${overlay}/${s}`).toEqual([{ ...NO_MIGRATE }]);
      }
      // The owner's password reaches the db-migrate Job and nothing else.
      const [job, ...rest] = onDisk(overlay, 'db-migrate.yaml');
      expect(rest).toEqual([]);
      expect(job.kind).toBe('Job');
      expect(job.metadata.name).toMatch(/^db-migrate-[0-9a-f]{10}$/);
      const m = job.spec.template.spec.containers[0];
      expect(m.args).toEqual([...DB_MIGRATE_COMMAND]);
      expect(m.env).toEqual([
        { name: 'DATABASE_URL', value: `postgres://${DATABASE_ROLE}@postgres:5432/terminusa` },
        { name: 'DATABASE_PASSWORD', valueFrom: { secretKeyRef: { name: DATABASE_SECRET_NAME, key: 'DATABASE_PASSWORD' } } },
      ]);
      expect(loadConfig({ env: { ...onDisk(overlay, 'configmap.yaml')[0].data, DATABASE_URL: m.env[0].value } }).database.migrate).toBe(true);
      expect(onDisk(overlay, 'kustomization.yaml')[0].resources).toContain('db-migrate.yaml');
    }
  });

  it('keeps the backups and, on a volume of its own, the backup keyring on PersistentVolumeClaims, not on an emptyDir', () => {
    for (const overlay of OVERLAYS) {
      const docs = onDisk(overlay, 'backup.yaml');
      const claims = Object.fromEntries(docs.filter((d) => d.kind === 'PersistentVolumeClaim').map((d) => [d.metadata.name, d.spec]));
      expect(Object.keys(claims).sort()).toEqual(['backup-data', 'backup-keys']);
      // Every replica writes backups and reads a keyring another one may have rotated.
      for (const spec of Object.values<any>(claims)) expect(spec.accessModes).toEqual(['ReadWriteMany']);
      expect(claims['backup-data'].resources.requests.storage).toBe(all[overlay as 'prod'].backupStorage);
      const pod = docs.find((d) => d.kind === 'Deployment').spec.template.spec;
      const c = pod.containers[0];
      const volumeOf = (path: string) => {
        const mount = c.volumeMounts
          .filter((m: any) => path === m.mountPath || path.startsWith(`${m.mountPath}/`))
          .sort((a: any, b: any) => b.mountPath.length - a.mountPath.length)[0];
        return pod.volumes.find((v: any) => v.name === mount.name);
      };
      const env = Object.fromEntries(c.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
      const settings = loadConfig({ env: { ...onDisk(overlay, 'configmap.yaml')[0].data, ...env } });
      const keyring = settings.backup.keyring!;
      const backups = settings.backup.dir ?? posix.join(settings.dataDir, 'backups');
      expect(posix.dirname(keyring)).toBe(BACKUP_KEYS_DIR);
      expect(volumeOf(keyring), `${overlay}: keyring`).toEqual({ name: 'keys', persistentVolumeClaim: { claimName: 'backup-keys' } });
      expect(volumeOf(backups), `${overlay}: backups`).toEqual({ name: 'data', persistentVolumeClaim: { claimName: 'backup-data' } });
      // The other services keep their scratch /data on an emptyDir.
      const collector = onDisk(overlay, 'collector.yaml').find((d) => d.kind === 'Deployment').spec.template.spec;
      expect(collector.volumes.find((v: any) => v.name === 'data')).toEqual({ name: 'data', emptyDir: {} });
    }
  });

  it('mounts the backup signing key read-only from an optional Secret of its own, used only once backup.signingKey names it', () => {
    for (const overlay of OVERLAYS) {
      const pod = onDisk(overlay, 'backup.yaml').find((d) => d.kind === 'Deployment').spec.template.spec;
      const c = pod.containers[0];
      expect(pod.volumes).toContainEqual({ name: 'signing-key', secret: { secretName: BACKUP_SIGNING_SECRET_NAME, optional: true, defaultMode: 0o400 } });
      expect(c.volumeMounts).toContainEqual({ name: 'signing-key', mountPath: BACKUP_SIGNING_DIR, readOnly: true });
      // Apart from the keyring's volume, so a copy of the keyring carries no signing key.
      expect(BACKUP_SIGNING_DIR.startsWith(`${BACKUP_KEYS_DIR}/`)).toBe(false);
      // A cluster without the Secret keeps working: nothing in the rendered settings asks for the file.
      const env = Object.fromEntries(c.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
      expect(loadConfig({ env: { ...onDisk(overlay, 'configmap.yaml')[0].data, ...env } }).backup.signingKey).toBeUndefined();
      // No other pod mounts it.
      for (const name of SERVICE_NAMES.filter((n) => n !== 'backup')) {
        const other = onDisk(overlay, `${name}.yaml`).find((d) => d.kind === 'Deployment').spec.template.spec;
        expect(JSON.stringify(other.volumes), `${overlay} ${name}`).not.toContain(BACKUP_SIGNING_SECRET_NAME);
      }
    }
  });

  it("puts the single node's snapshot in every backup: the engine's volume mounted read-only where backup.engineDataDir points, on the engine's node", () => {
    for (const overlay of SINGLE_NODE) {
      const pod = onDisk(overlay, 'backup.yaml').find((d) => d.kind === 'Deployment').spec.template.spec;
      const c = pod.containers[0];
      const env = Object.fromEntries(c.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
      const settings = loadConfig({ env: { ...onDisk(overlay, 'configmap.yaml')[0].data, ...env } });
      expect(settings.backup.engineDataDir, overlay).toBe('/vm-storage');
      expect(settings.storage.engine.durability).toBe('snapshot');
      const mount = c.volumeMounts.find((m: any) => m.mountPath === settings.backup.engineDataDir);
      expect(mount, overlay).toEqual({ name: 'engine', mountPath: '/vm-storage', readOnly: true });
      // The claim the engine's StatefulSet makes for its pod: <template>-<statefulset>-0.
      const sts = onDisk(overlay, 'victoria-metrics.yaml').find((d) => d.kind === 'StatefulSet');
      const claim = `${sts.spec.volumeClaimTemplates[0].metadata.name}-${sts.metadata.name}-0`;
      expect(pod.volumes.find((v: any) => v.name === mount.name)).toEqual({ name: 'engine', persistentVolumeClaim: { claimName: claim, readOnly: true } });
      // ReadWriteOnce is granted to one node: the backup pods go where the engine's pod is, and may read its group's files.
      expect(pod.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
        { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: sts.spec.selector.matchLabels } },
      ]);
      expect(pod.securityContext.supplementalGroups).toEqual([sts.spec.template.spec.securityContext.fsGroup]);
      // A new engine pod prefers the node where the backup pods hold its volume; no budget keeps the last backup pod
      // on a node being drained (its replacement could not start until the volume is free).
      const backupLabels = onDisk(overlay, 'backup.yaml').find((d) => d.kind === 'Deployment').spec.selector.matchLabels;
      expect(sts.spec.template.spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution).toEqual([
        { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: backupLabels } } },
      ]);
      expect(onDisk(overlay, 'backup.yaml').filter((d) => d.kind === 'PodDisruptionBudget'), overlay).toEqual([]);
      // No other pod mounts the engine's volume.
      for (const name of SERVICE_NAMES.filter((n) => n !== 'backup')) {
        const other = onDisk(overlay, `${name}.yaml`).find((d) => d.kind === 'Deployment').spec.template.spec;
        expect(JSON.stringify(other.volumes), `${overlay} ${name}`).not.toContain(claim);
      }
    }
    // The cluster edition has no snapshot to read (durability replication): its backups hold no engine data.
    const cluster = onDisk('cluster', 'backup.yaml').find((d) => d.kind === 'Deployment').spec.template.spec;
    expect(cluster.containers[0].env.map((e: any) => e.name)).not.toContain('TMON_BACKUP__ENGINE_DATA_DIR');
    expect(cluster.affinity.podAffinity).toBeUndefined();
    expect(onDisk('cluster', 'backup.yaml').filter((d) => d.kind === 'PodDisruptionBudget')).toHaveLength(1);
    expect(cluster.volumes.map((v: any) => v.name)).not.toContain('engine');
  });

  it('keeps the archive on a claim of its own, written by every storage replica and read by the backup', () => {
    for (const overlay of OVERLAYS) {
      const claim = onDisk(overlay, 'storage.yaml').find((d) => d.kind === 'PersistentVolumeClaim');
      expect(claim.spec.accessModes, overlay).toEqual(['ReadWriteMany']);
      for (const [service, readOnly] of [['storage', false], ['backup', true]] as const) {
        const pod = onDisk(overlay, `${service}.yaml`).find((d) => d.kind === 'Deployment').spec.template.spec;
        const volume = pod.volumes.find((v: any) => v.persistentVolumeClaim?.claimName === claim.metadata.name);
        expect(volume, `${overlay} ${service}`).toBeDefined();
        expect(pod.containers[0].volumeMounts.find((m: any) => m.name === volume.name), `${overlay} ${service}`).toEqual({ name: volume.name, mountPath: '/data/archive', readOnly });
      }
    }
  });

  it('serves the Ingress over TLS, with the certificate from its own Secret', () => {
    for (const overlay of OVERLAYS) {
      const [ingress] = onDisk(overlay, 'ingress.yaml');
      expect(ingress.spec.tls).toEqual([{ hosts: [all[overlay as 'prod'].ingressHost], secretName: INGRESS_TLS_SECRET_NAME }]);
      expect(ingress.spec.rules.map((r: any) => r.host)).toEqual(ingress.spec.tls[0].hosts);
      expect(ingress.metadata.annotations['nginx.ingress.kubernetes.io/ssl-redirect']).toBe('true');
    }
  });

  it('no password literal in any rendered file', () => {
    for (const [path, text] of renderAll(config)) {
      // A URL's password may only be a Kubernetes reference to a variable (the NATS route URLs: $(TMON_NATS_ROUTE_PASSWORD)).
      for (const m of text.matchAll(/[a-z]+:\/\/[^/@\s"']*:([^/@\s"']*)@/gi)) expect(m[1], `${path}: ${m[0]}`).toBe(`$(${NATS_ROUTE_PASSWORD_VARIABLE})`);
      // In the NATS configuration, every password is a variable of the server's environment; in vmauth's, a placeholder.
      for (const m of text.matchAll(/^\s*password:\s*(.*)$/gm)) expect(m[1], path).toMatch(/^\$(TMON_NATS_PASSWORD_[A-Z_]+|TMON_NATS_ROUTE_PASSWORD)$|^"%\{VM_[A-Z]+_PASSWORD\}"$/);
    }
    for (const file of [NATS_CONFIG_FILE, NATS_PERMISSIONS_FILE]) {
      const text = readFileSync(file, 'utf8');
      const passwords = [...text.matchAll(/^\s*password:\s*(.*)$/gm)].map((m) => m[1]);
      expect(passwords.every((p) => /^\$TMON_NATS_PASSWORD_[A-Z_]+$/.test(p!)), file).toBe(true);
      if (file === NATS_PERMISSIONS_FILE) expect(passwords).toHaveLength(NATS_USERS.length);
    }
  });

  it('renders vmauth’s configuration once for compose and every overlay, and rolls its pods when it changes', () => {
    // vmauth's pods carry their configuration's hash, so a change of it rolls them.
    for (const overlay of OVERLAYS) {
      const docs = onDisk(overlay, overlay === 'cluster' ? 'victoria-metrics-cluster.yaml' : 'victoria-metrics.yaml');
      const config = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'vmauth-config').data['auth.yml'];
      const pod = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'vmauth').spec.template;
      expect(pod.metadata.annotations['terminusa.io/vmauth-config-sha256'], overlay).toBe(createHash('sha256').update(config).digest('hex'));
    }
    // docker-compose.yml's vmauth configuration is the single node's, as rendered.
    expect(readFileSync(GATE_CONFIG_FILE, 'utf8')).toBe(gateConfig({ edition: 'single-node' }));
    expect([...readFileSync(GATE_CONFIG_FILE, 'utf8').matchAll(/^\s*password:\s*(.*)$/gm)].map((m) => m[1])).toEqual(GATE_USERS.map((u) => `"%{${u.passwordKey}}"`));
  });
});
