import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import pg from 'pg';
import { freePort, startSuite, STARTUP_MS, waitFor, type RunningSuite } from '@terminusa/testkit';

/** The real binary, as a user runs it. */
const TMON = join(process.cwd(), 'packages', 'cli', 'bin', 'tmon.mjs');
const VIEWER = { username: 'cli-viewer', password: 'cli-viewer-password-1' };

let suite: RunningSuite;
let nc: NatsConnection;
let home: string;
let configDir: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `tmon args` with HOME and XDG_CONFIG_HOME in a temporary directory and TMON_URL at the suite's gateway;
 * `env` adds or (with undefined) removes variables.
 */
function tmon(args: string[], options: { env?: Record<string, string | undefined>; input?: string } = {}): Promise<Run> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: home, XDG_CONFIG_HOME: configDir, TMON_URL: suite.base };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TMON, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Runs tmon and parses its standard output as JSON, failing with its stderr when it did not exit 0. */
async function tmonJson(args: string[], options?: Parameters<typeof tmon>[1]): Promise<any> {
  const run = await tmon([...args, '--json'], options);
  if (run.code !== 0) throw new Error(`tmon ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** Publishes samples as a game service does, on the namespace's ingest subject. */
function publish(samples: { name: string; value: number; tags?: Record<string, string>; ts?: number }[]): void {
  nc.publish(`${suite.ns.id}.metrics.ingest.cli`, new TextEncoder().encode(JSON.stringify({ samples })));
}

const drillDatabase = () => `${suite.ns.id}_cli_drill`;

/** A CSV document as rows of cells (no quoted cells in these tests). */
const csvRows = (text: string) => text.trim().split(/\r?\n/).map((line) => line.split(','));

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'tmon-e2e-'));
  configDir = join(home, 'config');
  // Minutes are rolled up 2 s after they end instead of 30 s, so the stepped history below is not kept waiting.
  suite = await startSuite({ services: ['processor', 'storage', 'alert-manager', 'backup'], env: { TMON_STORAGE__ROLLUP_SETTLE: '2s' } });
  nc = await connect({ servers: suite.ns.config.nats.url });
  expect((await suite.api('/users', { method: 'POST', body: JSON.stringify({ ...VIEWER, role: 'viewer' }) })).status).toBe(201);
}, STARTUP_MS + 30_000);

afterAll(async () => {
  if (suite) {
    // The restore drill's database; the restore job may still hold a connection for a moment.
    const admin = new pg.Client({ connectionString: suite.env.DATABASE_URL });
    await admin.connect();
    await waitFor(() => admin.query(`DROP DATABASE IF EXISTS ${drillDatabase()}`).then(() => true), 10_000, 'drill database dropped', 200).finally(() => admin.end());
  }
  await nc?.close();
  await suite?.stop();
  await rm(home, { recursive: true, force: true });
});

// Each step spawns the CLI a few times (about a second each on a busy machine).
describe('tmon against a running suite', { timeout: 90_000 }, () => {
  it('answers every command and subcommand with --help, and usage errors with exit 2', async () => {
    const help = await tmon(['backup', 'restore', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--into <database>');
    expect((await tmon(['metrics', 'history'])).code).toBe(2);
    const badAgg = await tmon(['metrics', 'history', 'x', '--agg', 'median']);
    expect(badAgg.code).toBe(2);
    expect(badAgg.stderr).toMatch(/median.*invalid|Allowed choices/i);
    expect((await tmon(['no-such-command'])).code).toBe(2);
  });

  it('says to log in when there is no login, with exit 4', async () => {
    const run = await tmon(['alerts', 'list']);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('not logged in');
    expect(run.stderr).toContain('run tmon login');
  });

  it('refuses a wrong password with exit 4 and stores nothing', async () => {
    const run = await tmon(['login', '--username', 'admin', '--password-stdin'], { input: 'wrong-password\n' });
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('wrong username or password');
    await expect(stat(join(configDir, 'tmon', 'credentials.json'))).rejects.toThrow(/ENOENT/);
  });

  it('logs in from a script, storing the token in a file only its owner can read', async () => {
    const run = await tmon(['login', '--username', 'admin', '--password-stdin'], { input: `${suite.adminPassword}\n` });
    expect(run.code, run.stderr).toBe(0);
    const file = join(configDir, 'tmon', 'credentials.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(file, 'utf8'));
    expect(stored).toMatchObject({ url: suite.base, username: 'admin', token: expect.any(String) });
    expect(Date.parse(stored.expiresAt)).toBeGreaterThan(Date.now());
    // The stored login names its gateway, so later commands need no TMON_URL.
    const services = await tmon(['services'], { env: { TMON_URL: undefined } });
    expect(services.code, services.stderr).toBe(0);
  });

  it('reports health with a non-zero exit while a service is down, and lists the discovered instances', async () => {
    const health = await tmon(['health']);
    // The collector is not started in this suite, so the suite is degraded.
    expect(health.code).toBe(1);
    expect(health.stdout).toContain('status: degraded');
    expect(health.stdout).toMatch(/collector\s+down\s+0/);
    expect(health.stdout).toMatch(/storage\s+up\s+1/);
    expect(health.stderr).toContain('the suite is degraded');
    const services = await tmon(['services']);
    expect(services.stdout).toMatch(/^SERVICE\s+INSTANCE\s+HOST/);
    for (const name of ['api-gateway', 'processor', 'storage', 'alert-manager', 'backup']) expect(services.stdout).toMatch(new RegExp(`^${name}\\s+\\S+-\\d+-`, 'm'));
    expect((await tmonJson(['services'])).services.backup.instances).toBe(1);
  });

  it('lists a replica started later, and no longer once it has shut down on SIGTERM', async () => {
    const [second] = await suite.startServices(['backup']);
    expect((await tmonJson(['services'])).services.backup.instances).toBe(2);
    second!.kill('SIGTERM');
    expect(await second!.exited).toBe(0);
    expect((await tmonJson(['services'])).services.backup.instances).toBe(1);
  });

  it('shows current values of a metric published on NATS, filtered by --tag, as a table, JSON and CSV', async () => {
    const now = Date.now();
    publish([
      { name: 'cli_players', value: 42, tags: { region: 'eu', shard: '1' }, ts: now },
      { name: 'cli_players', value: 7, tags: { region: 'us', shard: '2' }, ts: now },
    ]);
    const all = await waitFor(async () => {
      const answer = await tmonJson(['metrics', 'current', 'cli_players']);
      return answer.values.length === 2 ? answer : undefined;
    }, 20_000, 'both series current', 300);
    expect(all.values.map((v: any) => v.value).sort()).toEqual([42, 7].sort());
    const table = await tmon(['metrics', 'current', 'cli_players', '--tag', 'region=eu']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^REGION\s+SHARD\s+VALUE\s+TIME\n/);
    expect(table.stdout).toMatch(/^eu\s+1\s+42\s+\d{4}-/m);
    expect(table.stdout).not.toContain('us');
    const csv = csvRows((await tmon(['metrics', 'current', 'cli_players', '--csv', '-t', 'shard=2'])).stdout);
    expect(csv).toEqual([['region', 'shard', 'value', 'time'], ['us', '2', '7', new Date(now).toISOString()]]);
    expect((await tmon(['metrics', 'current', 'cli_players', '--tag', 'bad-key=1'])).code).toBe(2);
    // Without a name: the metrics there are.
    expect((await tmonJson(['metrics', 'current'])).names).toContain('cli_players');
    expect((await tmon(['metrics', 'current'])).stdout).toMatch(/^METRIC\n(.*\n)*cli_players\n/);
  });

  it('publishes samples to NATS as a game service does: JSON, standard input and --metric, acked by the stream', async () => {
    const nats = { NATS_URL: suite.ns.config.nats.url, NATS_PREFIX: suite.ns.id };
    const json = await tmon(['publish', 'game', '{"samples":[{"name":"cli_published","value":1234,"tags":{"region":"eu","shard":"7"}}]}'], { env: nats });
    expect(json.code, json.stderr).toBe(0);
    expect(json.stderr).toMatch(new RegExp(`^published to ${suite.ns.id}\\.metrics\\.ingest\\.game: stream ${suite.ns.id}_INGEST, sequence \\d+\\n$`));
    const piped = await tmon(['publish', 'game'], { env: nats, input: '{"samples":[{"name":"cli_published","value":5,"tags":{"region":"us","shard":"1"}}]}' });
    expect(piped.code, piped.stderr).toBe(0);
    const flags = await tmon(['publish', 'game', '--metric', 'cli_published=9', '--tag', 'region=ap', '--tag', 'shard=2'], { env: nats });
    expect(flags.code, flags.stderr).toBe(0);
    const current = await waitFor(async () => {
      const answer = await tmonJson(['metrics', 'current', 'cli_published']);
      return answer.values.length === 3 ? answer : undefined;
    }, 20_000, 'the three published series current', 300);
    expect(Object.fromEntries(current.values.map((v: any) => [v.tags.region, v.value]))).toEqual({ eu: 1234, us: 5, ap: 9 });

    expect((await tmon(['publish', 'game', 'not json'], { env: nats })).code).toBe(2);
    expect((await tmon(['publish', 'game', '--metric', 'cli_published=abc'], { env: nats })).code).toBe(2);
    const unreachable = await tmon(['publish', 'game', '--metric', 'x=1', '--nats-url', `nats://127.0.0.1:${await freePort()}`]);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain('cannot reach NATS');
  });

  it('shows history as a table with a sparkline per series, and as JSON and CSV', async () => {
    const now = Date.now();
    const values = [3, 9, 4, 12, 6];
    publish(values.map((value, i) => ({ name: 'cli_latency', value, tags: { route: 'login' }, ts: now - (values.length - i) * 60_000 })));
    const json = await waitFor(async () => {
      const answer = await tmonJson(['metrics', 'history', 'cli_latency', '--from', '1h']);
      return answer.series[0]?.points.length === values.length ? answer : undefined;
    }, 20_000, 'five stored points', 300);
    expect(json.series[0].points.map((p: number[]) => p[1])).toEqual(values);
    const table = await tmon(['metrics', 'history', 'cli_latency', '--from', 'now-1h', '--to', 'now']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^TIME\s+ROUTE\s+VALUE\n/);
    expect(table.stdout.match(/^\d{4}-\S+\s+login\s+\d+$/gm)).toHaveLength(5);
    expect(table.stdout).toMatch(/cli_latency\{route=login\}\s+[▁▂▃▄▅▆▇█]{5}\s+min 3\s+max 12\s+last 6/);
    expect(table.stderr).toContain('1 series, 5 points from the raw tier');
    const csv = csvRows((await tmon(['metrics', 'history', 'cli_latency', '--from', '1h', '--csv'])).stdout);
    expect(csv[0]).toEqual(['time', 'route', 'value']);
    expect(csv.slice(1).map((r) => Number(r[2]))).toEqual(values);
    // The samples are minutes old, later than their minutes were rolled up: the rollups count them after the next run.
    const stepped = await waitFor(async () => {
      const answer = await tmonJson(['metrics', 'history', 'cli_latency', '--from', '1h', '--step', '1h', '--agg', 'max']);
      return answer.series[0]?.points.some((p: number[]) => p[1] === 12) ? answer : undefined;
    }, 30_000, 'the late samples in the rollups', 500);
    expect(stepped.step).toBeGreaterThanOrEqual(3_600_000);
    expect(Math.max(...stepped.series[0].points.map((p: number[]) => p[1]))).toBe(12);
  });

  it('lists rules, lists a firing alert and acknowledges it', async () => {
    const rule = { name: 'CliQueueDeep', metric: 'cli_queue_depth', comparator: '>', threshold: 100, severity: 'warning', channels: ['dashboard'] };
    expect((await suite.api('/rules', { method: 'POST', body: JSON.stringify(rule) })).status).toBe(201);
    const rules = await tmon(['rules', 'list']);
    expect(rules.stdout).toMatch(/^CliQueueDeep\s+threshold\s+cli_queue_depth\s+> 100\s+warning\s+yes\s+api$/m);
    // The alert-manager reloads rules on the change notice; publish until the rule has seen a breach.
    const alert = await waitFor(async () => {
      publish([{ name: 'cli_queue_depth', value: 500, tags: { queue: 'matchmaking' }, ts: Date.now() }]);
      const answer = await tmonJson(['alerts', 'list', '--state', 'firing']);
      return answer.alerts.find((a: any) => a.rule === 'CliQueueDeep');
    }, 30_000, 'the alert firing', 500);
    const list = await tmon(['alerts', 'list', '--label', 'queue=matchmaking']);
    expect(list.stdout).toMatch(new RegExp(`^${alert.id}\\s+CliQueueDeep\\s+warning\\s+firing\\s+`, 'm'));
    const ack = await tmon(['alerts', 'ack', alert.id, '--comment', 'looking into it']);
    expect(ack.code, ack.stderr).toBe(0);
    expect(ack.stderr).toContain(`acknowledged ${alert.id}`);
    const acked = await waitFor(async () => (await tmonJson(['alerts', 'list'])).alerts.find((a: any) => a.id === alert.id && a.ack), 10_000, 'the ack', 300);
    expect(acked.ack).toMatchObject({ by: 'admin', comment: 'looking into it' });
    const history = await waitFor(async () => (await tmonJson(['alerts', 'history', '--rule', 'CliQueueDeep'])).alerts.find((a: any) => a.id === alert.id), 10_000, 'the alert in history', 300);
    expect(history.rule).toBe('CliQueueDeep');
    const missing = await tmon(['alerts', 'ack', '00000000-0000-4000-8000-000000000000']);
    expect(missing.code).toBe(6);
    expect((await tmon(['alerts', 'ack', 'not-a-uuid'])).code).toBe(2);
  });

  it('adds, lists and expires a silence', async () => {
    const added = await tmon(['silences', 'add', 'queue=matchmaking', 'rule=~"Cli.*"', '--comment', 'maintenance window', '--duration', '30m']);
    expect(added.code, added.stderr).toBe(0);
    const id = added.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const listed = await tmonJson(['silences', 'list']);
    expect(listed.silences.find((s: any) => s.id === id)).toMatchObject({ comment: 'maintenance window', createdBy: 'admin', matchers: [{ tag: 'queue', op: '=', value: 'matchmaking' }, { tag: 'rule', op: '=~', value: 'Cli.*' }] });
    expect((await tmon(['silences', 'list'])).stdout).toMatch(new RegExp(`^${id}\\s+queue="matchmaking" rule=~"Cli\\.\\*"\\s+`, 'm'));
    expect((await tmon(['silences', 'add', 'queue=x', '--duration', '1h'])).code).toBe(2);
    expect((await tmon(['silences', 'add', 'queue', '--comment', 'x'])).code).toBe(2);
    expect((await tmon(['silences', 'expire', id])).code).toBe(0);
    expect((await tmonJson(['silences', 'list'])).silences.some((s: any) => s.id === id)).toBe(false);
    expect((await tmon(['silences', 'expire', id])).code).toBe(6);
  });

  it('validates rules files offline: a good file passes, a bad one names each wrong rule and field', async () => {
    const good = join(home, 'good-rules.yaml');
    const bad = join(home, 'bad-rules.yaml');
    await writeFile(good, 'rules:\n  - { name: HighCpu, metric: cpu_percent, aggregation: avg, window: 5m, comparator: ">", threshold: 90, severity: critical }\n');
    await writeFile(bad, 'rules:\n  - { name: Fine, metric: up, comparator: "<", threshold: 1, severity: info }\n  - { name: Broken, metric: up, comparator: ">", threshold: high, severity: loud }\n');
    // No gateway is needed: this one points nowhere.
    const ok = await tmon(['rules', 'validate', good], { env: { TMON_URL: 'http://127.0.0.1:1' } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(`${good}: ok, 1 rule(s): HighCpu\n`);
    const refused = await tmon(['rules', 'validate', good, bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${bad}: invalid`);
    expect(refused.stderr).toMatch(/rule Broken: threshold: /);
    expect(refused.stderr).toMatch(/rule Broken: severity: /);
    expect(refused.stderr).not.toContain('rule Fine');
    const reports = JSON.parse((await tmon(['rules', 'validate', bad, '--json'])).stdout);
    expect(reports[0]).toMatchObject({ file: bad, ok: false });
    expect(reports[0].problems.map((p: any) => p.field).sort()).toEqual(['severity', 'threshold']);
    expect((await tmon(['rules', 'validate', join(home, 'missing.yaml')])).code).toBe(6);
    // A missing test file or NKEY seed file too: one line, exit 6, no stack.
    for (const args of [['rules', 'test', join(home, 'missing-tests.yml')], ['publish', 'game', '--metric', 'a=1', '--nkey-seed-file', join(home, 'missing.seed')]]) {
      const run = await tmon(args);
      expect(run.code, args.join(' ')).toBe(6);
      expect(run.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });

  it('validates Prometheus rule files and runs their unit tests in promtool, offline', async () => {
    const rules = join(home, 'game.rules.yml');
    await writeFile(
      rules,
      'groups:\n  - name: game\n    rules:\n      - alert: QueueBacklog\n        expr: queue_depth > 100\n        for: 1m\n        labels: { severity: critical }\n      - record: zone:queue_depth:sum\n        expr: sum by (zone) (queue_depth)\n',
    );
    const offline = { env: { TMON_URL: 'http://127.0.0.1:1' } };
    const ok = await tmon(['rules', 'validate', rules], offline);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(`${rules}: ok, 2 rule(s): QueueBacklog, zone:queue_depth:sum\n`);

    const test = (expected: string) => `rule_files: [game.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'queue_depth{zone="eu"}'
        values: '50 150 150 150'
    alert_rule_test:
      - eval_time: 3m
        alertname: QueueBacklog
        exp_alerts:
          - exp_labels: { severity: critical, zone: eu }
    promql_expr_test:
      - expr: zone:queue_depth:sum
        eval_time: 2m
        exp_samples:
          - labels: 'zone:queue_depth:sum{zone="eu"}'
            value: ${expected}
`;
    await writeFile(join(home, 'passing.test.yml'), test('150'));
    await writeFile(join(home, 'failing.test.yml'), test('999'));
    const passed = await tmon(['rules', 'test', join(home, 'passing.test.yml')], offline);
    expect(passed.code, passed.stdout + passed.stderr).toBe(0);
    expect(passed.stdout).toContain('SUCCESS');
    const failed = await tmon(['rules', 'test', join(home, 'failing.test.yml')], offline);
    expect(failed.code).toBe(1);
    expect(failed.stdout + failed.stderr).toMatch(/exp: .*9\.99E\+02/);

    await writeFile(join(home, 'broken.rules.yml'), 'groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: sum(\n');
    await writeFile(join(home, 'broken.test.yml'), 'rule_files: [broken.rules.yml]\ntests: []\n');
    const refused = await tmon(['rules', 'test', join(home, 'broken.test.yml')], offline);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/rule Broken: expr: not valid PromQL/);
  });

  it('takes a backup and waits for it, lists, verifies and restores it into a drill database', async () => {
    const run = await tmon(['backup', 'run', '--kind', 'full']);
    expect(run.code, run.stderr).toBe(0);
    const id = run.stdout.trim();
    expect(run.stderr).toContain('full backup taken');
    const listed = await tmonJson(['backup', 'list']);
    expect(listed.backups.find((b: any) => b.id === id)).toMatchObject({ kind: 'full', rows: expect.any(Number) });
    expect((await tmon(['backup', 'list'])).stdout).toMatch(new RegExp(`^${id}\\s+full\\s+`, 'm'));
    const verified = await tmon(['backup', 'verify', id]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(new RegExp(`^${id}: ok, \\d+ chunks, \\d+ rows`));
    expect((await tmon(['backup', 'verify', 'no-such-backup'])).code).toBe(6);
    const queued = await tmon(['backup', 'run', '--kind', 'incremental', '--no-wait']);
    expect(queued.code).toBe(0);
    const job = await waitFor(async () => {
      const j = JSON.parse((await tmon(['backup', 'job', queued.stdout.trim()])).stdout);
      return j.state === 'completed' ? j : undefined;
    }, 30_000, 'the incremental backup job', 300);
    expect(job.result.id).toBeTruthy();
    const live = await tmon(['backup', 'restore', id]);
    expect(live.code).toBe(2);
    expect(live.stderr).toContain('add --yes');
    const drill = await tmon(['backup', 'restore', id, '--into', drillDatabase()]);
    expect(drill.code, drill.stderr).toBe(0);
    expect(drill.stderr).toContain(`restored ${id} into ${drillDatabase()}`);
    expect((await tmon(['backup', 'restore', 'no-such-backup', '--into', drillDatabase()])).code).toBe(6);
  });

  it('lists the archive and loads a range from it', async () => {
    const list = await tmon(['archive', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^TIER\s+FROM\s+TO\s+ROWS/);
    expect(await tmonJson(['archive', 'list'])).toEqual({ archives: [] });
    const load = await tmon(['archive', 'load', '--tier', 'raw', '--from', '2d', '--to', 'now']);
    expect(load.code, load.stderr).toBe(0);
    expect(load.stdout).toBe('loaded 0 rows from 0 file(s) into raw\n');
    expect((await tmon(['archive', 'load', '--tier', '2m', '--from', '2d', '--to', 'now'])).code).toBe(2);
  });

  it('lists the refused messages, shows one whole and replays it, which the processor judges again', async () => {
    const body = { samples: [{ name: 'cli_ok', value: 1 }, { name: 'cli_bad', value: 1, tags: { zone: 'a\u0000b' } }] };
    nc.publish(`${suite.ns.id}.metrics.ingest.cli-bad`, new TextEncoder().encode(JSON.stringify(body)));
    const listed = await waitFor(async () => {
      const page = await tmonJson(['dead-letters', 'list', '--source', 'cli-bad']);
      return page.letters.length > 0 ? page : undefined;
    }, 20_000, 'the dead letter listed');
    const seq: number = listed.letters[0].seq;
    expect(listed.letters).toEqual([expect.objectContaining({ source: 'cli-bad', subject: 'metrics.ingest.cli-bad', accepted: 1, rejections: [expect.objectContaining({ field: 'samples[1].tags.zone', reason: expect.stringMatching(/NUL/) })] })]);
    const table = await tmon(['dead-letters', '--source', 'cli-bad']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^SEQ\s+STORED\s+SOURCE\s+SUBJECT/);
    expect(table.stdout).toContain('samples[1].tags.zone: tag values may not contain the NUL character');
    const shown = await tmon(['dead-letters', 'show', String(seq)]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ seq, raw: JSON.stringify(body) });

    const replay = await tmon(['dead-letters', 'replay', String(seq)]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toBe(`replayed dead letter ${seq} to metrics.ingest.cli-bad\n`);
    // Refused again (nothing changed), so it comes back as a new dead letter; the old one is gone.
    const again = await waitFor(async () => {
      const page = await tmonJson(['dead-letters', 'list', '--source', 'cli-bad']);
      return page.letters.length > 0 && page.letters[0].seq > seq ? page : undefined;
    }, 20_000, 'the replayed message refused again');
    expect(again.letters.map((l: { seq: number }) => l.seq)).toEqual([expect.any(Number)]);
    expect((await tmon(['dead-letters', 'show', String(seq)])).code).toBe(6);
    expect((await tmon(['dead-letters', 'replay', 'x'])).code).toBe(2);
    const token = await suite.login(VIEWER.username, VIEWER.password);
    expect((await tmon(['dead-letters'], { env: { TMON_TOKEN: token } })).code).toBe(5);
  });

  it('tells a viewer which role a command needs, with exit 5, and lets them read', async () => {
    const token = await suite.login(VIEWER.username, VIEWER.password);
    const run = await tmon(['backup', 'run'], { env: { TMON_TOKEN: token } });
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('needs the admin role; you have viewer');
    expect((await tmon(['silences', 'add', 'a=b', '-c', 'x'], { env: { TMON_TOKEN: token } })).stderr).toContain('needs the operator role');
    expect((await tmon(['metrics', 'current', 'cli_players'], { env: { TMON_TOKEN: token } })).code).toBe(0);
  });

  it('answers an invalid or expired token with exit 4 and "run tmon login"', async () => {
    const invalid = await tmon(['alerts', 'list'], { env: { TMON_TOKEN: 'not-a-token' } });
    expect(invalid.code).toBe(4);
    expect(invalid.stderr).toContain('run tmon login');
    const expiredDir = join(home, 'expired');
    const stored = JSON.parse(await readFile(join(configDir, 'tmon', 'credentials.json'), 'utf8'));
    await mkdir(join(expiredDir, 'tmon'), { recursive: true });
    await writeFile(join(expiredDir, 'tmon', 'credentials.json'), JSON.stringify({ ...stored, expiresAt: new Date(Date.now() - 1000).toISOString() }), { mode: 0o600 });
    const expired = await tmon(['alerts', 'list'], { env: { XDG_CONFIG_HOME: expiredDir } });
    expect(expired.code).toBe(4);
    expect(expired.stderr).toMatch(/login of admin .* expired at .*; run tmon login/);
  });

  it('exits 3 naming the gateway when it cannot be reached', async () => {
    const port = await freePort();
    const run = await tmon(['services'], { env: { TMON_URL: `http://127.0.0.1:${port}`, TMON_TOKEN: 'any' } });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`cannot reach the gateway at http://127.0.0.1:${port}: ECONNREFUSED`);
  });

  it('logs out: the stored token is revoked at its own gateway, whatever TMON_URL and TMON_TOKEN say, and the file removed', async () => {
    const file = join(configDir, 'tmon', 'credentials.json');
    const { token } = JSON.parse(await readFile(file, 'utf8'));
    const run = await tmon(['logout'], { env: { TMON_URL: `http://127.0.0.1:${await freePort()}`, TMON_TOKEN: 'another-credential' } });
    expect(run.code, run.stderr).toBe(0);
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    expect((await tmon(['alerts', 'list'], { env: { TMON_TOKEN: token } })).code).toBe(4);
    expect((await tmon(['alerts', 'list'])).code).toBe(4);
  });
});
