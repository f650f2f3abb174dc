import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  buildManifests,
  defaultConfig,
  K8S_DIR,
  NATS_CONFIG_FILE,
  NATS_CONFIG_MAP_NAME,
  NATS_PERMISSIONS_FILE,
  NATS_SECRET_NAME,
  NATS_USERS,
  natsPasswordVariable,
  overlayDir,
  overlays,
  renderAll,
  SECRET_NAME,
  SECRET_PLACEHOLDER,
  SERVICES,
} from './index.ts';

const config = defaultConfig();
const all = overlays(config);

function onDisk(overlay: string, file: string): any[] {
  return parseAllDocuments(readFileSync(join(K8S_DIR, overlayDir(overlay as 'base'), file), 'utf8')).map((d) => d.toJS());
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
    for (const dir of ['base', 'overlays/dev', 'overlays/prod']) {
      const yamlFiles = readdirSync(join(K8S_DIR, dir)).filter((f) => f.endsWith('.yaml'));
      expect(yamlFiles.map((f) => join(dir, f)).sort()).toEqual([...rendered.keys()].filter((k) => k.startsWith(`${dir}/`)).sort());
    }
  });

  it('the committed HPAs carry the configuration scaling settings', () => {
    const hpa = (overlay: string, service: string) => onDisk(overlay, `${service}.yaml`).find((d) => d.kind === 'HorizontalPodAutoscaler');
    const { collectors, processors } = config.scaling;
    for (const overlay of ['base', 'prod']) {
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
    for (const s of SERVICES) expect(hpa('dev', s).spec.minReplicas).toBe(1);
  });

  it('probes point at /health on the ops port with the load-balance timeout', () => {
    for (const overlay of ['base', 'dev', 'prod']) {
      for (const s of SERVICES) {
        const docs = onDisk(overlay, `${s}.yaml`);
        const pod = docs.find((d) => d.kind === 'Deployment').spec.template.spec;
        const c = pod.containers[0];
        expect(c.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'ops' });
        expect(c.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'ops' });
        expect(c.readinessProbe.timeoutSeconds).toBe(config.loadBalance.timeout);
        expect(c.env).toContainEqual({ name: 'SERVICE', value: s });
        expect(pod.terminationGracePeriodSeconds).toBe(config.shutdownTimeout + 10);
        expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      }
    }
  });

  it('applies no Secret: the templates stay out of the kustomization, so a forgotten Secret stops the pods rather than a placeholder becoming the password', () => {
    for (const overlay of ['base', 'dev', 'prod']) {
      const { resources } = onDisk(overlay, 'kustomization.yaml')[0];
      expect(resources).not.toContain('secret.template.yaml');
      for (const file of resources as string[]) expect(onDisk(overlay, file).filter((d) => d?.kind === 'Secret'), `${overlay}/${file}`).toEqual([]);
    }
  });

  it('no Secret holds a real value', () => {
    for (const overlay of ['base', 'dev', 'prod']) {
      const secrets = readdirSync(join(K8S_DIR, overlayDir(overlay as 'base')))
        .filter((f) => f.endsWith('.yaml'))
        .flatMap((f) => onDisk(overlay, f))
        .filter((d) => d?.kind === 'Secret');
      expect(secrets.length).toBeGreaterThan(0);
      expect(secrets.map((s) => s.metadata.name).sort()).toEqual([NATS_SECRET_NAME, SECRET_NAME].sort());
      const keys: Record<string, string[]> = { [SECRET_NAME]: ['ADMIN_PASSWORD', 'DATABASE_PASSWORD', 'JWT_SECRET'], [NATS_SECRET_NAME]: NATS_USERS.map(natsPasswordVariable).sort() };
      for (const s of secrets) {
        expect(s.data).toBeUndefined();
        expect(Object.keys(s.stringData).sort()).toEqual(keys[s.metadata.name as string]);
        for (const v of Object.values(s.stringData)) expect(v).toBe(SECRET_PLACEHOLDER);
      }
    }
  });

  it('every service connects to NATS as its own user, with its password from the NATS Secret', () => {
    for (const overlay of ['base', 'dev', 'prod']) {
      expect(onDisk(overlay, 'configmap.yaml')[0].data.NATS_URL, 'no shared NATS_URL').toBeUndefined();
      for (const s of SERVICES) {
        const c = onDisk(overlay, `${s}.yaml`).find((d) => d.kind === 'Deployment').spec.template.spec.containers[0];
        const env = (name: string) => c.env.filter((e: any) => e.name === name);
        expect(env('NATS_URL'), `${overlay}/${s}`).toEqual([{ name: 'NATS_URL', value: `nats://${s}@nats:4222` }]);
        expect(env('NATS_PASSWORD'), `${overlay}/${s}`).toEqual([
          { name: 'NATS_PASSWORD', valueFrom: { secretKeyRef: { name: NATS_SECRET_NAME, key: natsPasswordVariable(s) } } },
        ]);
        // Only its own password: the NATS Secret is not imported whole.
        expect(c.envFrom.map((e: any) => e.secretRef?.name).filter(Boolean)).toEqual([SECRET_NAME]);
        // Every other secret-looking variable comes from a Secret too.
        for (const e of c.env.filter((x: any) => /PASSWORD|SECRET/.test(x.name))) expect(e.valueFrom?.secretKeyRef, `${overlay}/${s} ${e.name}`).toBeDefined();
      }
    }
  });

  it('the NATS StatefulSet runs nats.conf with the permissions from a ConfigMap and the passwords from the Secret', () => {
    for (const overlay of ['base', 'dev', 'prod']) {
      const docs = onDisk(overlay, 'nats.yaml');
      const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === NATS_CONFIG_MAP_NAME);
      expect(cm.data['nats.conf']).toBe(readFileSync(NATS_CONFIG_FILE, 'utf8'));
      expect(cm.data['permissions.conf']).toBe(readFileSync(NATS_PERMISSIONS_FILE, 'utf8'));
      expect(cm.data['nats.conf']).toMatch(/^include \.\/permissions\.conf$/m);
      const pod = docs.find((d) => d.kind === 'StatefulSet').spec.template.spec;
      const c = pod.containers[0];
      expect(c.args[0]).toBe('--config=/etc/nats/nats.conf');
      // Still a 3-node cluster: the flags add the name, the cluster and the routes to the file's settings.
      expect(c.args).toEqual(expect.arrayContaining(['--name=$(POD_NAME)', '--cluster_name=terminusa', '--cluster=nats://0.0.0.0:6222']));
      expect(c.args.find((a: string) => a.startsWith('--routes=')).split(',')).toHaveLength(3);
      expect(c.envFrom).toEqual([{ secretRef: { name: NATS_SECRET_NAME } }]);
      expect(c.volumeMounts).toContainEqual({ name: 'config', mountPath: '/etc/nats', readOnly: true });
      expect(pod.volumes).toEqual([{ name: 'config', configMap: { name: NATS_CONFIG_MAP_NAME } }]);
      expect(docs.find((d) => d.kind === 'StatefulSet').spec.template.metadata.annotations['terminusa.io/nats-config-sha256']).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('no password literal in any rendered file', () => {
    for (const [path, text] of renderAll(config)) {
      expect(text, path).not.toMatch(/[a-z]+:\/\/[^/@\s"']*:[^/@\s"']*@/i);
      // In the NATS permissions, every password is a variable of the server's environment.
      for (const m of text.matchAll(/^\s*password:\s*(.*)$/gm)) expect(m[1], path).toMatch(/^\$TMON_NATS_PASSWORD_[A-Z_]+$/);
    }
    for (const file of [NATS_CONFIG_FILE, NATS_PERMISSIONS_FILE]) {
      const text = readFileSync(file, 'utf8');
      const passwords = [...text.matchAll(/^\s*password:\s*(.*)$/gm)].map((m) => m[1]);
      expect(passwords.every((p) => /^\$TMON_NATS_PASSWORD_[A-Z_]+$/.test(p!)), file).toBe(true);
      if (file === NATS_PERMISSIONS_FILE) expect(passwords).toHaveLength(NATS_USERS.length);
    }
  });
});
