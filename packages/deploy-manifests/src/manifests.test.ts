import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildManifests, defaultConfig, K8S_DIR, overlayDir, overlays, renderAll, SECRET_PLACEHOLDER, SERVICES } from './index.ts';

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

  it('no Secret holds a real value', () => {
    for (const overlay of ['base', 'dev', 'prod']) {
      const secrets = readdirSync(join(K8S_DIR, overlayDir(overlay as 'base')))
        .filter((f) => f.endsWith('.yaml'))
        .flatMap((f) => onDisk(overlay, f))
        .filter((d) => d?.kind === 'Secret');
      expect(secrets.length).toBeGreaterThan(0);
      for (const s of secrets) {
        expect(s.data).toBeUndefined();
        expect(Object.keys(s.stringData).sort()).toEqual(['ADMIN_PASSWORD', 'DATABASE_PASSWORD', 'JWT_SECRET']);
        for (const v of Object.values(s.stringData)) expect(v).toBe(SECRET_PLACEHOLDER);
      }
    }
  });
});
