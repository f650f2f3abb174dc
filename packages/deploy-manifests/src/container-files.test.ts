import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig, SERVICE_NAMES, SERVICE_NODE_FLAGS, type ServiceName } from '@terminusa/config';
import { composeValidator } from './compose-schema.ts';
import { DATABASE_ROLE, databaseRole, DB_MIGRATE_COMMAND, OWN_DATABASE_ROLES, secretGrants } from './manifests.ts';
import { defaultConfig } from './overlays.ts';
import { NATS_USERS, natsPasswordVariable, renderNatsServerConfig } from './nats-permissions.ts';
import { NATS_CONFIG_FILE } from './render.ts';
import { redisPasswordSecret, renderRedisAclRules } from './redis-acl.ts';
import { VM_IMAGE, VM_SINGLE_NODE_ARGS, VM_STORAGE_PATH, vmReadUrl } from './victoria-metrics.ts';
import { GATE_NAME, GATE_URL, gateUserOf, gateUsers } from './engine-gate.ts';

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


/** The secret that holds a NATS user's password. */
const natsSecret = (user: string) => `nats_password_${user.replace(/-/g, '_')}`;
/** The compose secret of each variable a service reads from a file: the same grants as its k8s secretKeyRefs. */
const COMPOSE_SECRET: Record<string, (service: string) => string | { source: string; target: string }> = {
  NATS_PASSWORD: (service) => ({ source: natsSecret(service), target: 'nats_password' }),
  // Each service's own role's password, mounted as database_password (the owner's secret's name, which db-migrate alone holds).
  DATABASE_PASSWORD: (service) => ({ source: `database_password_${service === 'api-gateway' ? 'gateway' : service.replace(/-/g, '_')}`, target: 'database_password' }),
  REDIS_PASSWORD: (service) => ({ source: redisPasswordSecret(service as ServiceName), target: 'redis_password' }),
  ADMIN_PASSWORD: () => 'admin_password',
  JWT_SECRET: () => 'jwt_secret',
  OPS_METRICS_TOKEN: () => 'metrics_token',
  // The engine's password, or the service's gate user's (engineGrants), mounted as vm_password either way.
  VM_PASSWORD: (service) => (service === 'storage' ? 'vm_password' : { source: gateUserOf({ edition: 'single-node' }, service as ServiceName)!.passwordKey.toLowerCase(), target: 'vm_password' }),
  VM_SNAPSHOT_KEY: () => 'vm_snapshot_key',
};
const secretTarget = (grant: string | { target: string }) => (typeof grant === 'string' ? grant : grant.target);
const secretSource = (grant: string | { source: string }) => (typeof grant === 'string' ? grant : grant.source);
/** The vmauth container of the Kubernetes single node (k8s/base), as rendered. */
function onDiskGate(): any {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'k8s', 'base', 'victoria-metrics.yaml'), 'utf8')).map((d) => d.toJS());
  return docs.find((d) => d.kind === 'Deployment' && d.metadata.name === GATE_NAME).spec.template.spec.containers[0];
}
/** The nats service's start script (`sh -c`), as written in the file ($$ not yet unescaped). */
function natsScript(): string {
  const nats = compose.services.nats;
  expect(nats.entrypoint).toEqual(['sh', '-c']);
  expect(nats.command).toHaveLength(1);
  return String(nats.command[0]);
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
      // The gateway runs once per node, since it binds its node's port 8080 (see the ports test below).
      if (name === 'api-gateway') expect(s.deploy).toMatchObject({ mode: 'global' });
      else expect(s.deploy.replicas).toBe(2);
      expect(s.deploy.resources.limits).toEqual({ cpus: '2', memory: '2G' });
      expect(s.deploy.restart_policy).toEqual({ condition: 'on-failure' });
      expect(s.deploy.update_config).toEqual({ parallelism: 1, order: name === 'api-gateway' ? 'stop-first' : 'start-first', failure_action: 'rollback' });
      expect(s.healthcheck.timeout).toBe('5s');
      expect(s.healthcheck.interval).toBe('10s');
      expect(s.healthcheck.test.join(' ')).toContain('http://127.0.0.1:9100/health/live');
      expect(s.networks).toContain('monitoring');
    });
  }

  it('splits the collector as Kubernetes does: collector runs the jobs, collector-node the system metrics once per Swarm node', () => {
    const jobs = compose.services.collector;
    const node = compose.services['collector-node'];
    expect(node, 'the collector-node service').toBeDefined();
    const settings = (s: any) => loadConfig({ env: Object.fromEntries(Object.entries<any>(s.environment).filter(([k]) => !k.endsWith('_FILE'))) });
    // Scrapes and probes on the replicas, without a host tag (it would follow whichever replica ran the job).
    expect(jobs.environment.TMON_COLLECTION__MODE).toBe('jobs');
    expect(settings(jobs).collection.mode).toBe('jobs');
    expect(jobs.environment.TMON_COLLECTION__TAGS__HOST).toBeUndefined();
    expect(jobs.deploy.replicas).toBe(2);
    // One task per node (global, no count), the node's metrics tagged with the Swarm node, the collector's image,
    // users and secrets, and one task a node during an update too.
    expect(node.image).toBe(jobs.image);
    expect(node.environment.SERVICE).toBe('collector');
    expect(node.environment.TMON_COLLECTION__MODE).toBe('system');
    expect(settings(node).collection.mode).toBe('system');
    expect(node.environment.TMON_COLLECTION__TAGS__HOST).toBe('{{.Node.Hostname}}');
    expect([node.environment.NATS_URL, node.environment.REDIS_URL]).toEqual([jobs.environment.NATS_URL, jobs.environment.REDIS_URL]);
    expect(node.secrets).toEqual(jobs.secrets);
    expect(node.deploy.mode).toBe('global');
    expect(node.deploy.replicas).toBeUndefined();
    expect(node.deploy.update_config).toEqual({ parallelism: 1, order: 'stop-first', failure_action: 'rollback' });
    expect(node.deploy.restart_policy).toEqual({ condition: 'on-failure' });
    expect(node.deploy.resources.limits).toEqual({ cpus: '0.5', memory: '384M' });
    expect(node.healthcheck).toEqual(jobs.healthcheck);
    // On the overlay network, the only way to nats and redis (neither publishes a port): `docker stack deploy`
    // ignores network_mode and pid, and a task on the `host` network can join no other (docs/deploy.md §2).
    expect(node.networks).toEqual(['monitoring']);
    expect([node.network_mode, node.pid, node.ports]).toEqual([undefined, undefined, undefined]);
    // No other service collects system metrics (mode all, the default).
    const collectors = Object.entries<any>(compose.services).filter(([, s]) => s.environment?.SERVICE === 'collector');
    expect(collectors.map(([n, s]) => [n, settings(s).collection.mode])).toEqual([['collector', 'jobs'], ['collector-node', 'system']]);
  });

  it('runs nats with JetStream, postgres with a password file and redis with AOF', () => {
    expect(natsScript()).toMatch(/^exec nats-server -c \/etc\/nats\/nats\.conf$/m);
    expect(compose.services.nats.volumes).toEqual(['nats-data:/data']);
    expect(readFileSync(NATS_CONFIG_FILE, 'utf8')).toMatch(/^jetstream \{\n {2}store_dir: "\/data"\n\}$/m);
    expect(compose.services.postgres.environment.POSTGRES_PASSWORD_FILE).toBe('/run/secrets/postgres_password');
    expect(compose.services.postgres.secrets).toContain('postgres_password');
    expect(compose.services.redis.command.join(' ')).toContain('--appendonly yes');
  });

  it('publishes only the gateway, on 8080 in host mode, trusting no proxy', () => {
    const published = Object.entries(compose.services).filter(([, s]: [string, any]) => s.ports);
    expect(published.map(([n]) => n)).toEqual(['api-gateway']);
    const gateway = compose.services['api-gateway'];
    // Host mode, not the routing mesh, whose load balancer would replace every client's address with its own.
    expect(gateway.ports).toEqual([{ target: 8080, published: 8080, protocol: 'tcp', mode: 'host' }]);
    // So the connection's peer is the client, and X-Forwarded-For (written by nobody but the client) is ignored.
    expect(gateway.environment.TMON_GATEWAY__TRUST_PROXY).toBe('false');
    expect(loadConfig({ env: { TMON_GATEWAY__TRUST_PROXY: gateway.environment.TMON_GATEWAY__TRUST_PROXY } }).gateway.trustProxy).toBe(false);
    // A host port is bound once per node: one gateway per node (no replica count), and an update stops the old one first.
    expect(gateway.deploy.replicas).toBeUndefined();
    expect(gateway.deploy.update_config.order).toBe('stop-first');
  });

  it('uses one attachable, encrypted overlay network on 172.20.0.0/16', () => {
    const net = compose.networks.monitoring;
    expect(net.driver).toBe('overlay');
    expect(net.driver_opts).toEqual({ encrypted: 'true' });
    expect(net.attachable).toBe(true);
    expect(net.ipam.config).toEqual([{ subnet: '172.20.0.0/16' }]);
  });

  it('declares the secrets as files and every service uses only declared ones', () => {
    const declared = compose.secrets;
    for (const name of ['admin_password', 'jwt_secret', 'postgres_password', 'database_password', 'database_password_gateway', 'database_password_alert_manager', 'database_password_storage', 'database_password_backup', 'redis_password', ...SERVICES.map((s) => redisPasswordSecret(s as ServiceName)), ...NATS_USERS.map(natsSecret)]) {
      expect(declared[name].file).toBe(`./deploy/secrets/${name}.txt`);
    }
    for (const s of Object.values<any>(compose.services)) {
      for (const used of s.secrets ?? []) expect(Object.keys(declared)).toContain(secretSource(used));
    }
  });

  for (const name of SERVICES) {
    it(`${name} is given only the secrets it reads (the k8s grants), each through its *_FILE variable`, () => {
      const s = compose.services[name];
      const grants = secretGrants(name as ServiceName);
      expect(s.secrets).toEqual(expect.arrayContaining(grants.map((g) => COMPOSE_SECRET[g.env]!(name))));
      expect(s.secrets).toHaveLength(grants.length);
      for (const g of grants) expect(s.environment[`${g.env}_FILE`], `${name} ${g.env}_FILE`).toBe(`/run/secrets/${secretTarget(COMPOSE_SECRET[g.env]!(name))}`);
      const fileVariables = Object.keys(s.environment).filter((k) => k.endsWith('_FILE') && /PASSWORD|SECRET|TOKEN|KEY/.test(k));
      expect(fileVariables.sort()).toEqual(grants.map((g) => `${g.env}_FILE`).sort());
      // The superuser's password is PostgreSQL's and its bootstrap's only; the gateway's secrets the gateway's.
      expect(s.secrets).not.toContain('postgres_password');
      if (name !== 'api-gateway') expect(s.secrets.filter((x: unknown) => x === 'jwt_secret' || x === 'admin_password'), name).toEqual([]);
      // No shell in front: the image's CMD runs (backup's script only moves an old keyring first).
      if (name !== 'backup') expect(s.command, name).toBeUndefined();
    });
  }

  it('what the services’ configuration makes of the compose environment and secret files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tmon-compose-secrets-'));
    const value = (secret: string) => `${secret}-0123456789abcdef-0123456789abcdef`;
    for (const secret of Object.keys(compose.secrets)) writeFileSync(join(dir, secret), `${value(secret)}\n`);
    for (const name of SERVICES) {
      const s = compose.services[name];
      // The file each target names, as Docker mounts it under /run/secrets/<target>.
      for (const grant of s.secrets) writeFileSync(join(dir, secretTarget(grant)), `${value(secretSource(grant))}\n`);
      const env = Object.fromEntries(Object.entries<any>(s.environment).map(([k, v]) => [k, String(v).replace('/run/secrets/', `${dir}/`)]));
      const config = loadConfig({ env });
      expect(config.nats.url).toBe(`nats://${name}:${value(natsSecret(name))}@nats:4222`);
      expect(config.redis.url).toBe(`redis://${name}:${value(redisPasswordSecret(name as ServiceName))}@redis:6379`);
      if (s.environment.DATABASE_URL) {
        // Each as its own role, waiting for db-migrate's migrations.
        const password = value(secretSource(COMPOSE_SECRET.DATABASE_PASSWORD!(name)));
        expect(config.database.url, name).toBe(`postgres://${databaseRole(name as ServiceName, defaultConfig())}:${password}@postgres:5432/terminusa`);
        expect(OWN_DATABASE_ROLES[name as ServiceName], name).toBeDefined();
        expect(config.database.migrate, name).toBe(false);
      } else expect(config.database.password, name).toBeUndefined();
      expect([config.auth.jwtSecret, config.auth.adminPassword], name).toEqual(name === 'api-gateway' ? [value('jwt_secret'), value('admin_password')] : [undefined, undefined]);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs postgres with the superuser’s password, and a one-shot postgres-bootstrap that makes the services’ roles with deploy/postgres/roles.sql', () => {
    expect(compose.services.postgres.secrets).toEqual(['postgres_password']);
    const boot = compose.services['postgres-bootstrap'];
    expect(boot.image).toBe(compose.services.postgres.image);
    expect(boot.configs).toEqual([{ source: 'postgres_roles', target: '/etc/terminusa/roles.sql' }]);
    expect(compose.configs.postgres_roles).toEqual({ file: './deploy/postgres/roles.sql' });
    expect(boot.secrets).toEqual(['postgres_password', 'database_password', 'database_password_gateway', 'database_password_alert_manager', 'database_password_storage', 'database_password_backup']);
    expect(boot.deploy.restart_policy.condition).toBe('on-failure');
    expect(boot.entrypoint).toEqual(['sh', '-c']);
    const script = String(boot.command[0]);
    expect(script).toMatch(/^set -e$/m);
    expect(script).toContain('PGPASSWORD="$$(cat /run/secrets/postgres_password)" DATABASE_PASSWORD="$$(cat /run/secrets/database_password)"');
    // The variables roles.sql reads for the services' own roles, each from its secret; every secret checked non-empty first.
    expect(script).toContain('GATEWAY_DATABASE_PASSWORD="$$(cat /run/secrets/database_password_gateway)"');
    expect(script).toContain('ALERT_MANAGER_DATABASE_PASSWORD="$$(cat /run/secrets/database_password_alert_manager)"');
    expect(script).toContain('STORAGE_DATABASE_PASSWORD="$$(cat /run/secrets/database_password_storage)"');
    expect(script).toContain('BACKUP_DATABASE_PASSWORD="$$(cat /run/secrets/database_password_backup)"');
    expect(script).toMatch(/^\s*for s in postgres_password database_password database_password_gateway database_password_alert_manager database_password_storage database_password_backup; do$/m);
    // Who holds an own role's password: that service and the bootstrap.
    for (const [secret, service] of [['database_password_gateway', 'api-gateway'], ['database_password_alert_manager', 'alert-manager'], ['database_password_storage', 'storage'], ['database_password_backup', 'backup']]) {
      const holders = Object.entries<any>(compose.services).filter(([, s]) => (s.secrets ?? []).some((x: unknown) => secretSource(x as string) === secret));
      expect(holders.map(([n]) => n).sort(), secret).toEqual([service, 'postgres-bootstrap'].sort());
    }
    // The owner's password: the one-shot db-migrate, which logs in as the owner and migrates, and the bootstrap; no service.
    const owners = Object.entries<any>(compose.services).filter(([, s]) => (s.secrets ?? []).some((x: unknown) => secretSource(x as string) === 'database_password'));
    expect(owners.map(([n]) => n).sort()).toEqual(['db-migrate', 'postgres-bootstrap']);
    const migrate = compose.services['db-migrate'];
    expect(migrate.command).toEqual([...DB_MIGRATE_COMMAND]);
    expect(migrate.deploy.restart_policy.condition).toBe('on-failure');
    const settings = loadConfig({ env: { ...migrate.environment, DATABASE_PASSWORD_FILE: undefined, DATABASE_PASSWORD: 'pw-0123456789abcdef' } }).database;
    expect(settings.url).toBe(`postgres://${DATABASE_ROLE}:pw-0123456789abcdef@postgres:5432/terminusa`);
    expect(settings.migrate).toBe(true);
    expect(migrate.environment.DATABASE_PASSWORD_FILE).toBe('/run/secrets/database_password');
    expect(script).toMatch(/exec psql -h postgres -U postgres -d postgres -v ON_ERROR_STOP=1 -f \/etc\/terminusa\/roles\.sql$/m);
    // Only the superuser's holders see its password.
    const holders = Object.entries<any>(compose.services).filter(([, s]) => (s.secrets ?? []).some((x: unknown) => secretSource(x as string) === 'postgres_password'));
    expect(holders.map(([n]) => n).sort()).toEqual(['postgres', 'postgres-bootstrap']);
  });

  it('runs redis with an ACL user per service from deploy/redis/acl-rules.conf, passwords from secrets on standard input, and AOF', () => {
    const redis = compose.services.redis;
    expect(redis.secrets).toEqual(['redis_password', ...SERVICE_NAMES.map(redisPasswordSecret)]);
    expect(redis.configs).toEqual([{ source: 'redis_acl_rules', target: '/etc/redis/acl-rules.conf' }]);
    expect(compose.configs.redis_acl_rules).toEqual({ file: './deploy/redis/acl-rules.conf' });
    expect(readFileSync(join(ROOT, 'deploy', 'redis', 'acl-rules.conf'), 'utf8')).toBe(renderRedisAclRules(defaultConfig().redis.prefix));
    expect(redis.command.slice(0, 2)).toEqual(['sh', '-c']);
    const script = String(redis.command[2]);
    expect(script).toMatch(/^exec docker-entrypoint\.sh redis-server - --appendonly yes <<EOF\n\$\$\(config\)\nEOF\n?$/m);
    expect(script).not.toContain('--requirepass');
    // Each service holds its own Redis password and no other (the node collector is the collector, as its user);
    // only Redis holds the default user's.
    for (const name of SERVICES) {
      const holders = Object.entries<any>(compose.services).filter(([, s]) => (s.secrets ?? []).some((x: unknown) => secretSource(x as string) === redisPasswordSecret(name as ServiceName)));
      expect(holders.map(([n]) => n).sort(), name).toEqual(['redis', name, ...(name === 'collector' ? ['collector-node'] : [])].sort());
      expect(compose.services[name].environment.REDIS_URL, name).toBe(`redis://${name}@redis:6379`);
    }
    const admins = Object.entries<any>(compose.services).filter(([, s]) => (s.secrets ?? []).includes('redis_password'));
    expect(admins.map(([n]) => n)).toEqual(['redis']);
  });

  it('runs nats with deploy/nats/nats.conf, which includes the generated permissions.conf', () => {
    const nats = compose.services.nats;
    expect(nats.image).toMatch(/^nats:2\.10-alpine$/); // a shell for the script; the plain image has none
    expect(compose.configs).toMatchObject({ nats_conf: { file: './deploy/nats/nats.conf' }, nats_permissions: { file: './deploy/nats/permissions.conf' } });
    expect(nats.configs).toEqual([
      { source: 'nats_conf', target: '/etc/nats/nats.conf' },
      { source: 'nats_permissions', target: '/etc/nats/permissions.conf' },
    ]);
    const conf = readFileSync(NATS_CONFIG_FILE, 'utf8');
    expect(conf, 'run pnpm k8s:render').toBe(renderNatsServerConfig());
    expect(conf).toMatch(/^include \.\/permissions\.conf$/m);
    expect(conf).toMatch(/^http_port: 8222$/m);
    // The health check asks the monitoring port whether JetStream is up; nothing of NATS is published.
    expect(nats.healthcheck.test).toEqual(['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8222/healthz?js-enabled-only=true']);
    expect(nats.ports).toBeUndefined();
  });

  it('gives the nats server every user’s password from its own secret, and no default', () => {
    const nats = compose.services.nats;
    expect(nats.secrets).toEqual(NATS_USERS.map(natsSecret));
    const script = natsScript();
    expect(script).toMatch(/^set -e$/m);
    for (const user of NATS_USERS) {
      expect(script).toContain(`${natsPasswordVariable(user)}="$$(pw ${natsSecret(user)})"`);
      expect(script).toMatch(new RegExp(`^export .*\\b${natsPasswordVariable(user)}\\b`, 'm'));
    }
    // `pw` refuses a missing or empty secret rather than starting with an empty password.
    expect(script).toContain('[ -s "/run/secrets/$$1" ] || {');
    expect(nats.environment).toBeUndefined();
  });

  for (const name of SERVICES) {
    it(`${name} connects to NATS as its own user with the password from its secret`, () => {
      const s = compose.services[name];
      expect(s.environment.NATS_URL).toBe(`nats://${name}@nats:4222`);
      expect(s.environment.NATS_PASSWORD_FILE).toBe('/run/secrets/nats_password');
      expect(s.environment.NATS_PASSWORD).toBeUndefined();
      const nats = s.secrets.filter((x: any) => secretSource(x).startsWith('nats_password'));
      expect(nats).toEqual([{ source: natsSecret(name), target: 'nats_password' }]);
    });
  }

  it('holds no password literal anywhere in the file', () => {
    /** Credentials in a URL, and PASSWORD/SECRET variables given a value that is neither a secret file nor read from one. */
    const literals = (text: string) => [
      ...[...text.matchAll(/[a-z]+:\/\/[^/@\s"']*:[^/@\s"']*@/gi)].map((m) => m[0]),
      ...[...text.matchAll(/\b([A-Z_]*(?:PASSWORD|SECRET)[A-Z_]*)\s*[:=]\s*"?([^\s"},]+)/g)]
        .filter((m) => !/^\/run\/secrets\/|^\$\$\((cat|pw|secret) /.test(`${m[2]} `))
        .map((m) => m[0]),
    ];
    const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    expect(literals(text)).toEqual([]);
    expect(text.match(/PASSWORD/g)!.length).toBeGreaterThan(10);
    // A literal is noticed.
    expect(literals(text.replace('NATS_PASSWORD_FILE: /run/secrets/nats_password', 'NATS_PASSWORD: hunter2'))).toEqual(['NATS_PASSWORD: hunter2']);
    expect(literals(text.replace('nats://processor@nats', 'nats://processor:pw@nats'))).toHaveLength(1);
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

  it('runs VictoriaMetrics single node with the StatefulSet’s flags, a named volume and a health check', () => {
    const vm = compose.services['victoria-metrics'];
    expect(vm.image).toBe('victoriametrics/victoria-metrics:v1.79.5');
    expect(vm.image).toBe(VM_IMAGE);
    // The image's entrypoint is the server: `command` holds only its flags, the generator's.
    expect(vm.command).toEqual(['-storageDataPath=/storage', '-retentionPeriod=2d', '-dedup.minScrapeInterval=1ms', '-maxLabelsPerTimeseries=36', '-httpListenAddr=:8428', '-httpAuth.username=terminusa', '-envflag.enable', '-envflag.prefix=VM_']);
    expect(vm.command).toEqual(VM_SINGLE_NODE_ARGS);
    expect(vm.volumes).toEqual([`vm-data:${VM_STORAGE_PATH}`]);
    expect(compose.volumes).toHaveProperty('vm-data');
    expect(vm.healthcheck.test).toEqual(['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8428/health']);
    expect(vm.networks).toEqual(['monitoring']);
    expect(vm.ports).toBeUndefined();
    expect(vm.deploy.restart_policy).toEqual({ condition: 'on-failure' });
  });

  it('sets VM_URL on the storage (the engine, started first) and on the gate’s users (vmauth, started first, each as its user), as the Kubernetes single node does', () => {
    for (const [name, s] of Object.entries<any>(compose.services)) {
      const user = gateUserOf({ edition: 'single-node' }, name as ServiceName)?.user;
      expect(s.environment?.VM_URL, name).toBe(name === 'storage' ? 'http://victoria-metrics:8428' : user ? GATE_URL : undefined);
      expect(s.environment?.VM_USERNAME, name).toBe(user);
      expect(s.environment?.VM_WRITE_URL, `${name}: single node takes writes at VM_URL`).toBeUndefined();
      if (SERVICES.includes(name)) expect([s.depends_on.includes('victoria-metrics'), s.depends_on.includes(GATE_NAME)], name).toEqual([name === 'storage', !!user]);
    }
    expect(compose.services.storage.environment.VM_URL).toBe(vmReadUrl({ edition: 'single-node' }));
    // vmauth runs the Deployment's image, script, flags and configuration.
    const gate = compose.services[GATE_NAME];
    const deployment = onDiskGate();
    expect(gate.image).toBe(deployment.image);
    expect(gate.entrypoint).toEqual([...deployment.command.slice(0, 2), deployment.command[2].replace(/\$/g, '$$$$'), deployment.command[3]]);
    expect(gate.command).toEqual(deployment.args);
    expect(gate.configs).toEqual([{ source: 'vmauth_config', target: '/etc/vmauth/auth.yml' }]);
    expect(compose.configs.vmauth_config).toEqual({ file: './deploy/vmauth/auth.yml' });
    expect(gate.secrets).toEqual(['vm_password', ...gateUsers({ edition: 'single-node' }).map((u) => u.passwordKey.toLowerCase())]);
  });

  it('gives only the backup the engine’s volume, read-only at /vm-storage (snapshots under /vm-storage/snapshots/)', () => {
    expect(compose.services.backup.volumes).toEqual(['backups:/data', 'backup-keys:/keys', 'vm-data:/vm-storage:ro', 'archive:/data/archive:ro']);
    const mounting = Object.entries<any>(compose.services).filter(([, s]) => (s.volumes ?? []).some((v: string) => v.startsWith('vm-data:')));
    expect(mounting.map(([n]) => n).sort()).toEqual(['backup', 'victoria-metrics']);
  });

  it('keeps the archive on a volume of its own, written by storage where its config puts it, read by the backup where its own does', () => {
    const dirOf = (service: string) => loadConfig({ env: Object.fromEntries(Object.entries<any>(compose.services[service].environment).filter(([k]) => !k.endsWith('_FILE'))) }).dataDir;
    expect(compose.services.storage.volumes).toEqual([`archive:${dirOf('storage')}/archive`]);
    expect(compose.services.backup.volumes).toContain(`archive:${dirOf('backup')}/archive:ro`);
    expect(compose.volumes).toHaveProperty('archive');
  });

  it('keeps the backup keyring on a volume of its own, apart from the backups, and moves an older release’s keyring there once', () => {
    const backup = compose.services.backup;
    const config = loadConfig({ env: Object.fromEntries(Object.entries<any>(backup.environment).filter(([k]) => !k.endsWith('_FILE'))) });
    expect(config.backup.keyring).toBe('/keys/backup-keyring.json');
    // A signing key file of its own is opt-in (docker-compose.yml's comment): without one the keyring's key signs.
    expect(config.backup.signingKey).toBeUndefined();
    expect(config.backup.dir ?? `${config.dataDir}/backups`).toBe('/data/backups');
    expect(compose.volumes).toHaveProperty('backup-keys');
    const mounting = Object.entries<any>(compose.services).filter(([, s]) => (s.volumes ?? []).some((v: string) => v.startsWith('backup-keys:')));
    expect(mounting.map(([n]) => n)).toEqual(['backup']);
    // The image makes /keys for the node user, so a new named volume takes that owner.
    expect(dockerfile).toMatch(/^RUN mkdir -p \/data \/data\/archive \/keys && chown node:node \/data \/data\/archive \/keys$/m);
    // The script moves /data/backup-keyring.json (where older releases kept it) to /keys once, then runs the image's program.
    expect(backup.command.slice(0, 2)).toEqual(['sh', '-c']);
    const script = String(backup.command[2]).replace(/\$\$/g, '$');
    expect(script).toMatch(/if \[ -f \/data\/backup-keyring\.json \] && \[ ! -e \/keys\/backup-keyring\.json \]/);
    const cmd = /^CMD \["sh", "-c", "(exec node .*)"\]$/m.exec(dockerfile)![1]!;
    expect(script.trim().split('\n').at(-1)).toBe(cmd);
    // Run with both directories moved to a temporary one: the keyring moves once, and a keyring in place is kept.
    const root = mkdtempSync(join(tmpdir(), 'tmon-keyring-move-'));
    mkdirSync(join(root, 'data'));
    mkdirSync(join(root, 'keys'));
    const run = () => {
      const r = spawnSync('sh', ['-c', script.replaceAll('/data/', `${root}/data/`).replaceAll('/keys/', `${root}/keys/`).replace(cmd, 'exit 0')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    };
    writeFileSync(join(root, 'data', 'backup-keyring.json'), 'old release keyring', { mode: 0o600 });
    run();
    expect(existsSync(join(root, 'data', 'backup-keyring.json'))).toBe(false);
    expect(readFileSync(join(root, 'keys', 'backup-keyring.json'), 'utf8')).toBe('old release keyring');
    expect(statSync(join(root, 'keys', 'backup-keyring.json')).mode & 0o777).toBe(0o600);
    writeFileSync(join(root, 'data', 'backup-keyring.json'), 'stray');
    run();
    expect(readFileSync(join(root, 'keys', 'backup-keyring.json'), 'utf8')).toBe('old release keyring');
    rmSync(root, { recursive: true, force: true });
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

  it('makes every directory a named volume is mounted on writable by the user the services run as', () => {
    // A new named volume takes the owner of the directory it is mounted on; one the image lacks stays root's.
    const owned = finalStage.filter((l) => /^RUN .*chown node:node/.test(l)).flatMap((l) => /chown node:node ([^&]+)/.exec(l)![1]!.trim().split(/\s+/));
    const named = new Set(Object.keys(compose.volumes ?? {}));
    for (const [name, s] of Object.entries<any>(compose.services)) {
      if (s.build?.dockerfile !== 'deploy/Dockerfile') continue;
      for (const v of s.volumes ?? []) {
        const [source, target, mode] = typeof v === 'string' ? v.split(':') : [v.source, v.target, v.read_only ? 'ro' : 'rw'];
        if (!named.has(source) || mode === 'ro') continue;
        expect(owned, `${name}: ${source} on ${target}`).toContain(target);
      }
    }
  });

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
    // The flags every service runs with, as the config package lists them (start.mjs and the testkit use the list).
    expect(finalStage).toContain(`CMD ["sh", "-c", "exec node ${SERVICE_NODE_FLAGS.join(' ')} services/$SERVICE/dist/main.js"]`);
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
