/**
 * The one-shots of the shipped deployments. The NATS bootstrap: the k8s Job and the compose one-shot service run the
 * image's `node tools/nats-bootstrap.mjs` as the `bootstrap` NATS user, and the services are told to bind
 * (TMON_NATS__MANAGE_STREAMS=false). The migrations: `node tools/db-migrate.mjs` as the owner role, which no service
 * logs in as (manifests.test.ts and container-files.test.ts check who holds its password). Each bundle the image
 * carries is built as scripts/build.mjs builds it and run.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { build } from 'esbuild';
import { connect } from 'nats';
import pg from 'pg';
import { loadConfig } from '@terminusa/config';
import { SCHEMA_VERSION } from '@terminusa/database';
import { createRoleDatabase, createTestNamespace, TEST_SERVERS } from '@terminusa/testkit';
import { buildManifests, CONFIG_MAP_NAME, DB_MIGRATE_COMMAND, NATS_BOOTSTRAP_COMMAND, NATS_SECRET_NAME } from './manifests.ts';
import { NATS_USERS, natsPasswordVariable } from './nats-permissions.ts';
import { defaultConfig, overlayDir, overlays } from './index.ts';
import { K8S_DIR } from './render.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as any;
const SERVICES = ['collector', 'processor', 'alert-manager', 'storage', 'backup', 'api-gateway'];
const onDisk = (overlay: string, file: string): any[] =>
  parseAllDocuments(readFileSync(join(K8S_DIR, overlayDir(overlay as 'base'), file), 'utf8')).map((d) => d.toJS());

const dir = mkdtempSync(join(tmpdir(), 'tmon-one-shots-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bundles a program of packages/runtime into `dir`/tools/`name`.mjs with the options of scripts/build.mjs. */
async function bundleTool(main: string, name: string): Promise<void> {
  await build({
    entryPoints: [join(ROOT, 'packages', 'runtime', 'src', main)],
    outfile: join(dir, 'tools', `${name}.mjs`),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['pg-native', 'esbuild'],
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}

/** Runs `command` (the image's form) in `dir` with only `env`; its exit code and output. */
async function runTool(command: readonly string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, command.slice(1), { cwd: dir, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, out };
}

describe('the NATS bootstrap in Kubernetes', () => {
  for (const overlay of ['base', 'dev', 'prod', 'cluster']) {
    it(`${overlay}: a Job runs the image's bootstrap as the bootstrap user, and the services bind`, () => {
      expect(onDisk(overlay, 'kustomization.yaml')[0].resources).toContain('nats-bootstrap.yaml');
      const [job, ...rest] = onDisk(overlay, 'nats-bootstrap.yaml');
      expect(rest).toEqual([]);
      expect(job.kind).toBe('Job');
      expect(job.metadata.name).toMatch(/^nats-bootstrap-[0-9a-f]{10}$/);
      expect(job.spec.backoffLimit).toBeGreaterThan(0);
      expect(job.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
      const pod = job.spec.template.spec;
      expect(pod.restartPolicy).toBe('OnFailure');
      const [c] = pod.containers;
      expect(c.image).toMatch(/^terminusa\/monitoring:/);
      expect(c.command).toBeUndefined(); // tini stays the entrypoint
      expect(c.args).toEqual([...NATS_BOOTSTRAP_COMMAND]);
      expect(c.env).toEqual([
        { name: 'NATS_URL', value: 'nats://bootstrap@nats:4222' },
        { name: 'NATS_PASSWORD', valueFrom: { secretKeyRef: { name: NATS_SECRET_NAME, key: natsPasswordVariable('bootstrap') } } },
      ]);
      // The shared settings (replicas, core.*) the consumers are made with, not the services' secrets.
      expect(c.envFrom).toEqual([{ configMapRef: { name: CONFIG_MAP_NAME } }]);
      expect(c.securityContext.readOnlyRootFilesystem).toBe(true);

      const data = onDisk(overlay, 'configmap.yaml')[0].data;
      expect(data.TMON_NATS__MANAGE_STREAMS).toBe('false');
      expect(loadConfig({ env: data }).nats.manageStreams).toBe(false);
      expect(NATS_USERS).toContain('bootstrap');
      expect(NATS_USERS).not.toContain('producer');
    });
  }

  it('names the Job after its pod template and settings, so a new image or new settings run it again', () => {
    const config = defaultConfig();
    const jobName = (o: ReturnType<typeof overlays>['prod']) =>
      buildManifests(o, config)
        .flatMap((f) => f.objects)
        .find((m) => m.kind === 'Job')!.metadata!.name;
    const prod = overlays(config).prod;
    expect(jobName(prod)).toBe(jobName(overlays(config).prod));
    expect(jobName({ ...prod, image: 'terminusa/monitoring:9.9.9' })).not.toBe(jobName(prod));
    expect(jobName({ ...prod, logLevel: 'debug' })).not.toBe(jobName(prod));
  });
});

describe('the NATS bootstrap in docker-compose.yml', () => {
  it('a one-shot service runs the image’s bootstrap as the bootstrap user, with its own secret only', () => {
    const s = compose.services['nats-bootstrap'];
    expect(s.image).toBe('terminusa/monitoring:0.1.0');
    expect(s.command).toEqual([...NATS_BOOTSTRAP_COMMAND]);
    expect(s.environment).toEqual({ NATS_URL: 'nats://bootstrap@nats:4222', NATS_PASSWORD_FILE: '/run/secrets/nats_password' });
    expect(s.secrets).toEqual([{ source: 'nats_password_bootstrap', target: 'nats_password' }]);
    expect(s.deploy.restart_policy.condition).toBe('on-failure');
    expect(s.depends_on).toEqual(['nats']);
    expect(compose.secrets.nats_password_producer).toBeUndefined();
  });

  it('the six services bind to what it made', () => {
    for (const name of SERVICES) {
      const env = compose.services[name].environment;
      expect(env.TMON_NATS__MANAGE_STREAMS, name).toBe('false');
      expect(loadConfig({ env: { TMON_NATS__MANAGE_STREAMS: env.TMON_NATS__MANAGE_STREAMS } }).nats.manageStreams).toBe(false);
    }
  });

  it('the image carries the bundle: scripts/build.mjs builds it and deploy/Dockerfile copies it to tools/', () => {
    expect(readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8')).toMatch(/nats-bootstrap-main\.ts'\), join\(root, 'dist', 'tools', 'nats-bootstrap\.mjs'\)/);
    const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain('cp dist/tools/nats-bootstrap.mjs');
    expect(dockerfile).toMatch(/^COPY --from=build --chown=root:root \/out\/tools \.\/tools$/m);
  });

  it('the bundle runs on its own: it makes the streams and consumers and exits 0', async () => {
    await bundleTool('nats-bootstrap-main.ts', 'nats-bootstrap');
    const ns = await createTestNamespace();
    try {
      const { code, out } = await runTool(NATS_BOOTSTRAP_COMMAND, { NATS_URL: TEST_SERVERS.natsUrl, NATS_PREFIX: ns.id, LOG_LEVEL: 'info' });
      expect(code, out).toBe(0);
      const nc = await connect({ servers: TEST_SERVERS.natsUrl });
      try {
        const jsm = await nc.jetstreamManager();
        expect((await jsm.consumers.info(`${ns.id}_SAMPLES`, 'alert-manager')).config.durable_name).toBe('alert-manager');
      } finally {
        await nc.close();
      }
    } finally {
      await ns.cleanup();
    }
  }, 60_000);
});

describe('the db-migrate one-shot', () => {
  it('the image carries the bundle: scripts/build.mjs builds it and deploy/Dockerfile copies it to tools/', () => {
    expect(readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8')).toMatch(/db-migrate-main\.ts'\), join\(root, 'dist', 'tools', 'db-migrate\.mjs'\)/);
    expect(readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8')).toContain('dist/tools/db-migrate.mjs');
  });

  it('the bundle runs on its own as the owner: it migrates and grants every service’s role, then exits 0; it exits 1 while PostgreSQL does not answer', async () => {
    await bundleTool('db-migrate-main.ts', 'db-migrate');
    const rdb = createRoleDatabase();
    try {
      const run = rdb.runRolesSql();
      expect(run.status, run.stderr).toBe(0);
      const owner = rdb.config('owner').database;
      const env = { DATABASE_URL: owner.url, TMON_DATABASE__ROLES: JSON.stringify(owner.roles), LOG_LEVEL: 'info' };
      // No PostgreSQL where it looks (not up yet): exit 1, for the restart policy to run it again; no password logged.
      const down = await runTool(DB_MIGRATE_COMMAND, { ...env, DATABASE_URL: Object.assign(new URL(owner.url), { host: '127.0.0.1:1' }).toString() });
      expect(down.code, down.out).toBe(1);
      expect(down.out).toMatch(/"message":"database migration failed"/);
      expect(down.out).not.toContain(new URL(owner.url).password);
      const { code, out } = await runTool(DB_MIGRATE_COMMAND, env);
      expect(code, out).toBe(0);
      expect(out).toMatch(/"message":"schema migrated and the services’ roles granted"/);
      // A service that waits for the owner (database.migrate false) now finds the schema ready at once.
      const backup = new pg.Client({ connectionString: rdb.config('backup').database.url });
      await backup.connect();
      try {
        const { rows } = await backup.query<{ version: number }>('SELECT max(version) AS version FROM schema_migrations');
        expect(rows).toEqual([{ version: SCHEMA_VERSION }]);
        expect((await backup.query('SELECT count(*)::int AS n FROM users')).rows).toEqual([{ n: 0 }]);
      } finally {
        await backup.end();
      }
    } finally {
      await rdb.cleanup();
    }
  }, 60_000);
});
