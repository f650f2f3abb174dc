/**
 * The Grafana files of deploy/grafana (docs/grafana.md), checked statically and against a real VictoriaMetrics:
 * - every YAML and JSON file parses;
 * - the data source points at the gateway's compose service and port, with the API key header, POST and the
 *   scrape interval of the suite's self-scrape;
 * - the dashboards have unique uids and titles, every panel, query and variable names the data source uid
 *   `terminusa`, every variable used is defined, and the panels do not overlap;
 * - every query (and the selector of every `label_values` variable) is valid PromQL: the engine at VM_URL parses
 *   it, and range functions are given a range (MetricsQL would accept `rate(x)`, PromQL does not);
 * - every `tmon_…` metric of suite-health.json is one the code registers (or prom-client's default metrics the
 *   runtime adds), and its other metrics are the ones the collector's scrape writes;
 * - every metric of game-metrics.json is named in docs/grafana.md;
 * - the compose snippet of docs/grafana.md is a valid compose file together with docker-compose.yml, and mounts
 *   the provisioning where Grafana and the dashboard provider look for it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '@terminusa/config';
import { createRegistry } from '@terminusa/runtime';
import { composeValidator } from './compose-schema.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const GRAFANA = join(ROOT, 'deploy', 'grafana');
const VM_URL = process.env.VM_URL ?? 'http://127.0.0.1:8428';
const DATASOURCE_UID = 'terminusa';
const config = loadConfig({ env: {} });

/** Every file under `dir`, recursively. */
function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const files = walk(GRAFANA);
const parsed = new Map<string, any>(
  files.filter((f) => /\.(ya?ml|json)$/.test(f)).map((f) => [relative(GRAFANA, f), f.endsWith('.json') ? JSON.parse(readFileSync(f, 'utf8')) : parse(readFileSync(f, 'utf8'))]),
);
const datasources = parsed.get('provisioning/datasources/terminusa.yaml');
const provider = parsed.get('provisioning/dashboards/terminusa.yaml');
const dashboards = [...parsed].filter(([path]) => path.startsWith('dashboards/')).map(([path, json]) => ({ file: path.slice('dashboards/'.length), json }));
const dashboard = (file: string) => dashboards.find((d) => d.file === file)!.json;

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as any;
const docs = readFileSync(join(ROOT, 'docs', 'grafana.md'), 'utf8');

/** The compose snippet of docs/grafana.md: the yaml block that starts with `# docker-compose.grafana.yml`. */
function composeSnippet(): any {
  const block = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.startsWith('# docker-compose.grafana.yml'));
  expect(block, 'docs/grafana.md has the docker-compose.grafana.yml snippet').toBeDefined();
  return parse(block!);
}


/** The panels of a dashboard, rows' nested panels (collapsed rows) included. */
function panelsOf(d: any): any[] {
  return (d.panels ?? []).flatMap((p: any) => [p, ...(p.panels ?? [])]);
}

/** The PromQL a variable's query evaluates: the selector of `label_values(selector, label)`, the query of `query_result(q)`. */
function variableExpression(v: any): string | undefined {
  const query = typeof v.query === 'string' ? v.query : v.query?.query;
  if (typeof query !== 'string') return undefined;
  const labelValues = /^label_values\(\s*(.+)\s*,\s*[A-Za-z_]\w*\s*\)$/s.exec(query.trim());
  if (labelValues) return labelValues[1]!;
  const queryResult = /^query_result\(\s*(.+)\s*\)$/s.exec(query.trim());
  return queryResult?.[1];
}

/** Every PromQL expression of a dashboard: panel targets and variable queries, with where each is. */
function expressionsOf(d: any): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of panelsOf(d)) for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
  for (const v of d.templating?.list ?? []) {
    const expr = variableExpression(v);
    if (expr !== undefined) out.push({ where: `variable ${v.name}`, expr });
  }
  return out;
}

const BUILTIN_VARIABLES = new Set(['__rate_interval', '__interval', '__interval_ms', '__range', '__range_s', '__range_ms', '__all', '__dashboard', '__from', '__to', '__name']);
const VARIABLE = /\$\{(\w+)(?::[\w]+)?\}|\[\[(\w+)\]\]|\$(\w+)/g;

/** The variables an expression uses. */
function variablesIn(expr: string): string[] {
  return [...expr.matchAll(VARIABLE)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** What Grafana would send, near enough: its interval variables as durations, template variables as a regex matching anything non-empty. */
function interpolate(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m')
    .replace(/\$__interval|\$\{__interval\}/g, '1m')
    .replace(/\$__range|\$\{__range\}/g, '1h')
    .replace(VARIABLE, '.+');
}

/** PromQL functions whose argument is a range vector: the engine's MetricsQL accepts them without a range, PromQL does not. */
const RANGE_FUNCTIONS = /\b(rate|irate|increase|delta|idelta|deriv|changes|resets|predict_linear|holt_winters|(?:avg|min|max|sum|count|quantile|stddev|stdvar|last|present|absent|mad)_over_time)\s*\(/g;

/** Calls of range functions whose arguments hold no `[range]`. */
function callsWithoutRange(expr: string): string[] {
  const missing: string[] = [];
  for (const m of expr.matchAll(RANGE_FUNCTIONS)) {
    let depth = 0;
    let i = m.index! + m[0].length - 1;
    const start = i;
    for (; i < expr.length; i++) {
      if (expr[i] === '(') depth++;
      else if (expr[i] === ')' && --depth === 0) break;
    }
    const args = expr.slice(start + 1, i);
    if (!/\[[^\]]+\]/.test(args)) missing.push(`${m[1]}(${args})`);
  }
  return missing;
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan']);

/** The metric names an expression selects: identifiers that are not functions, keywords, labels, strings or durations. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\S+/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()/g)) if (!KEYWORDS.has(m[1]!.toLowerCase())) names.add(m[1]!);
  // A selector that is only `{__name__=~"a|b", …}` names its metrics in the matcher.
  for (const m of expr.matchAll(/__name__\s*=~?\s*"([^"]*)"/g)) for (const name of m[1]!.split('|')) if (/^[A-Za-z_:][\w:]*$/.test(name)) names.add(name);
  return [...names];
}

/** The metric names the code registers with prom-client, with their types, from the sources of packages/ and services/. */
function registeredMetrics(): Map<string, string> {
  const types = new Map<string, string>();
  const sources = ['packages', 'services']
    .flatMap((top) => readdirSync(join(ROOT, top)).map((name) => join(ROOT, top, name, 'src')))
    .filter((dir) => existsSync(dir))
    .flatMap(walk)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  for (const file of sources) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/new\s+(Counter|Gauge|Histogram|Summary)\s*\(\s*\{\s*name:\s*['"`](tmon_\w+)['"`]/g)) types.set(m[2]!, m[1]!.toLowerCase());
    for (const m of text.matchAll(/\bname:\s*['"`](tmon_\w+)['"`]/g)) if (!types.has(m[1]!)) types.set(m[1]!, 'unknown');
  }
  // The process and Node.js metrics every service's registry adds (prefixed tmon_).
  for (const metric of createRegistry({ service: 'grafana-test', instance: 'grafana-test' }).getMetricsAsArray()) {
    types.set(metric.name, String((metric as unknown as { type: string }).type));
  }
  return types;
}

/** Whether a series name is exposed by a registered metric: the name itself, or a histogram's or summary's series. */
function isRegistered(name: string, registered: Map<string, string>): boolean {
  if (registered.has(name)) return true;
  const m = /^(.+)_(bucket|sum|count)$/.exec(name);
  if (!m) return false;
  const type = registered.get(m[1]!);
  return type === 'histogram' || (type === 'summary' && m[2] !== 'bucket');
}

/** The series the collector adds to every scrape of a target (scrape-target.ts). */
function scrapeMetaMetrics(): Set<string> {
  const text = readFileSync(join(ROOT, 'services', 'collector', 'src', 'scrape', 'scrape-target.ts'), 'utf8');
  return new Set([...text.matchAll(/\bmeta\('(\w+)'/g)].map((m) => m[1]!));
}

/** The engine's answer to an instant query. */
async function vmQuery(query: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${VM_URL}/api/v1/query?${new URLSearchParams({ query })}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

describe('deploy/grafana', () => {
  it('holds the data source, the dashboard provider and the two dashboards, and every YAML and JSON file parses', () => {
    expect([...parsed.keys()].sort()).toEqual(
      expect.arrayContaining(['dashboards/game-metrics.json', 'dashboards/suite-health.json', 'provisioning/dashboards/terminusa.yaml', 'provisioning/datasources/terminusa.yaml']),
    );
    // Nothing else lies there that the test does not parse.
    expect(files.filter((f) => !/\.(ya?ml|json)$/.test(f)).map((f) => relative(GRAFANA, f))).toEqual([]);
    for (const [path, value] of parsed) expect(value, path).toBeTypeOf('object');
  });
});

describe('the data source', () => {
  const ds = datasources?.datasources?.[0];

  it('is one Prometheus data source of uid terminusa, proxied by Grafana', () => {
    expect(datasources.apiVersion).toBe(1);
    expect(datasources.datasources).toHaveLength(1);
    expect(ds).toMatchObject({ uid: DATASOURCE_UID, type: 'prometheus', access: 'proxy' });
  });

  it("points at the gateway's compose service and HTTP port, which Kubernetes' Service of the same name exposes too", () => {
    const url = new URL(ds.url);
    expect(url.protocol).toBe('http:');
    expect(url.hostname).toBe('api-gateway');
    expect(Number(url.port)).toBe(config.gateway.port);
    expect(compose.services[url.hostname], 'a compose service of that name').toBeDefined();
    expect(compose.services[url.hostname].environment.SERVICE).toBe('api-gateway');
    expect(compose.services[url.hostname].ports).toContainEqual(expect.objectContaining({ target: config.gateway.port, published: config.gateway.port }));
    const k8s = parseAllDocuments(readFileSync(join(ROOT, 'k8s', 'base', 'api-gateway.yaml'), 'utf8')).map((d) => d.toJS());
    const service = k8s.find((o) => o.kind === 'Service' && o.metadata.name === url.hostname);
    expect(service.spec.ports.map((p: any) => p.port)).toContain(config.gateway.port);
  });

  it("sends the API key from TMON_GRAFANA_API_KEY as a bearer token, queries by POST as Prometheus 2.42, at the self-scrape's interval and the gateway's query timeout", () => {
    expect(ds.jsonData).toMatchObject({
      httpHeaderName1: 'Authorization',
      httpMethod: 'POST',
      prometheusType: 'Prometheus',
      prometheusVersion: '2.42.0',
      timeInterval: `${config.collection.intervals.app}s`,
      queryTimeout: config.gateway.promql.timeout,
      manageAlerts: false,
    });
    expect(ds.secureJsonData).toEqual({ httpHeaderValue1: 'Bearer ${TMON_GRAFANA_API_KEY}' });
    // The secret is never in jsonData, which Grafana stores and shows in clear.
    expect(JSON.stringify(ds.jsonData)).not.toMatch(/Bearer|tmk_/);
  });
});

describe('the dashboard provider and the compose snippet of docs/grafana.md', () => {
  const snippet = composeSnippet();
  const grafana = snippet.services?.grafana;
  /** The container path a host directory of the repository is mounted at. */
  const mountOf = (host: string) =>
    (grafana.volumes as string[])
      .map((v) => v.split(':'))
      .find(([from]) => from === host)?.[1];

  it('is one file provider with a fixed folder', () => {
    expect(provider.apiVersion).toBe(1);
    expect(provider.providers).toHaveLength(1);
    expect(provider.providers[0]).toMatchObject({ type: 'file', folder: 'Terminusa', options: { path: expect.stringMatching(/^\//) } });
  });

  it('is a valid compose file together with docker-compose.yml', () => {
    const merged = { ...compose, services: { ...compose.services, ...snippet.services }, volumes: { ...compose.volumes, ...snippet.volumes } };
    const validate = composeValidator();
    expect(validate(merged), JSON.stringify(validate.errors, null, 1)).toBe(true);
    for (const network of grafana.networks) expect(compose.networks[network], network).toBeDefined();
    expect(compose.services['api-gateway'].networks).toEqual(expect.arrayContaining(grafana.networks));
    for (const dependency of grafana.depends_on) expect(compose.services[dependency], dependency).toBeDefined();
    for (const volume of grafana.volumes as string[]) {
      const [from] = volume.split(':');
      if (from!.startsWith('./')) expect(existsSync(join(ROOT, from!)), from).toBe(true);
      else expect(snippet.volumes, from).toHaveProperty(from!);
    }
  });

  it('mounts the provisioning where Grafana reads it and the dashboards where the provider looks', () => {
    expect(mountOf('./deploy/grafana/provisioning/datasources')).toBe('/etc/grafana/provisioning/datasources');
    expect(mountOf('./deploy/grafana/provisioning/dashboards')).toBe('/etc/grafana/provisioning/dashboards');
    expect(mountOf('./deploy/grafana/dashboards')).toBe(provider.providers[0].options.path);
    const home = grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH as string | undefined;
    if (home !== undefined) expect(existsSync(join(GRAFANA, 'dashboards', relative(provider.providers[0].options.path, home))), home).toBe(true);
  });

  it('gives Grafana the API key variable the data source expands', () => {
    expect(grafana.environment).toHaveProperty('TMON_GRAFANA_API_KEY');
    expect(String(grafana.environment.TMON_GRAFANA_API_KEY)).toMatch(/^\$\{TMON_GRAFANA_API_KEY(:\?[^}]*)?\}$/);
  });
});

describe('the dashboards', () => {
  it('are suite-health.json and game-metrics.json, with unique uids and titles', () => {
    expect(dashboards.map((d) => d.file).sort()).toEqual(['game-metrics.json', 'suite-health.json']);
    const uids = dashboards.map((d) => d.json.uid);
    const titles = dashboards.map((d) => d.json.title);
    for (const uid of uids) expect(uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
    for (const title of titles) expect(title).toMatch(/\S/);
    expect(new Set(uids).size).toBe(uids.length);
    expect(new Set(titles).size).toBe(titles.length);
  });

  for (const { file, json: d } of dashboards) {
    describe(file, () => {
      it('is a dashboard of a current schema with panels, provisionable as is (no id)', () => {
        expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
        expect(d.id ?? null).toBeNull();
        expect(panelsOf(d).filter((p) => p.type !== 'row').length).toBeGreaterThan(0);
      });

      it('names the data source by uid terminusa in every panel, query and variable', () => {
        const isOurs = (ds: any) => ds?.uid === DATASOURCE_UID && ds?.type === 'prometheus';
        for (const p of panelsOf(d)) {
          if (p.type === 'row') {
            expect(p.targets ?? [], `row "${p.title}"`).toEqual([]);
            if (p.datasource) expect(isOurs(p.datasource), `row "${p.title}"`).toBe(true);
            continue;
          }
          expect(isOurs(p.datasource), `panel "${p.title}"`).toBe(true);
          expect(p.targets?.length, `panel "${p.title}" has queries`).toBeGreaterThan(0);
          expect(new Set(p.targets.map((t: any) => t.refId)).size, `panel "${p.title}" refIds`).toBe(p.targets.length);
          for (const t of p.targets) {
            expect(t.datasource === undefined || isOurs(t.datasource), `panel "${p.title}" ${t.refId}`).toBe(true);
            expect(t.expr, `panel "${p.title}" ${t.refId}`).toMatch(/\S/);
            // The suite stores no exemplars: asking for them only costs a request.
            expect(t.exemplar ?? false, `panel "${p.title}" ${t.refId}`).toBe(false);
          }
        }
        for (const v of d.templating?.list ?? []) if (v.type === 'query') expect(isOurs(v.datasource), `variable ${v.name}`).toBe(true);
        // Only Grafana's built-in annotation query may use another data source.
        for (const a of d.annotations?.list ?? []) expect(a.builtIn === 1 || isOurs(a.datasource), `annotation ${a.name}`).toBe(true);
      });

      it('has unique panel ids, panels inside the 24-column grid, none overlapping', () => {
        const panels = panelsOf(d);
        expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
        const boxes = panels.map((p) => ({ title: p.title, ...p.gridPos }));
        for (const b of boxes) {
          expect(b.x + b.w, b.title).toBeLessThanOrEqual(24);
          expect(b.w * b.h, b.title).toBeGreaterThan(0);
        }
        for (const [i, a] of boxes.entries()) {
          for (const b of boxes.slice(i + 1)) {
            const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
            expect(overlap, `"${a.title}" and "${b.title}" overlap`).toBe(false);
          }
        }
      });

      it('uses only variables it defines', () => {
        const defined = new Set((d.templating?.list ?? []).map((v: any) => v.name));
        for (const { where, expr } of expressionsOf(d)) {
          for (const name of variablesIn(expr)) expect(defined.has(name) || BUILTIN_VARIABLES.has(name), `${where}: $${name}`).toBe(true);
        }
      });

      it('gives every range function a range', () => {
        for (const { where, expr } of expressionsOf(d)) expect(callsWithoutRange(expr), `${where}: ${expr}`).toEqual([]);
      });

      it('has only queries that the engine accepts as PromQL', async () => {
        const exprs = expressionsOf(d);
        expect(exprs.length).toBeGreaterThan(0);
        const answers = await Promise.all(exprs.map(async (e) => ({ ...e, query: interpolate(e.expr), answer: await vmQuery(interpolate(e.expr)) })));
        const refused = answers.filter((a) => a.answer.status !== 200 || a.answer.body?.status !== 'success');
        expect(
          refused.map((a) => `${a.where}: ${a.query} → ${a.answer.status} ${JSON.stringify(a.answer.body?.error ?? a.answer.body)}`),
          `VictoriaMetrics at ${VM_URL}`,
        ).toEqual([]);
      });
    });
  }

  it('are checked by an engine that does refuse a broken query', async () => {
    const broken = await vmQuery(interpolate('sum(rate(tmon_storage_samples_stored_total{instance=~"$instance"}[$__rate_interval])'));
    expect(broken.body?.status).toBe('error');
    expect(callsWithoutRange('sum(rate(tmon_storage_samples_stored_total))')).toEqual(['rate(tmon_storage_samples_stored_total)']);
  });
});

describe('the metrics the dashboards read', () => {
  const registered = registeredMetrics();

  it('finds the metrics the code registers (the check is not vacuous)', () => {
    expect(registered.get('tmon_processor_rejections_total')).toBe('counter');
    expect(registered.get('tmon_alert_evaluation_seconds')).toBe('histogram');
    expect(registered.get('tmon_process_cpu_seconds_total')).toBe('counter');
    expect(isRegistered('tmon_alert_evaluation_seconds_bucket', registered)).toBe(true);
    expect(isRegistered('tmon_processor_rejections_total_bucket', registered)).toBe(false);
    expect(isRegistered('tmon_processor_rejected_total', registered)).toBe(false);
    expect(metricNames('sum by (le) (rate(a_bucket{job=~"x"}[5m])) / on (job) group_left b offset 1h + time()')).toEqual(['a_bucket', 'b']);
  });

  it('suite-health.json reads only metrics the suite registers or the collector’s scrape writes', () => {
    const meta = scrapeMetaMetrics();
    expect(meta).toContain('up');
    const used = new Set(expressionsOf(dashboard('suite-health.json')).flatMap((e) => metricNames(e.expr)));
    // Every tmon_ name anywhere in the queries, whatever the position, is a registered one.
    for (const { expr } of expressionsOf(dashboard('suite-health.json'))) for (const m of expr.matchAll(/\btmon_[a-z0-9_]+/g)) used.add(m[0]);
    const unknown = [...used].filter((name) => (name.startsWith('tmon_') ? !isRegistered(name, registered) : !meta.has(name)));
    expect(unknown, `registered: ${[...registered.keys()].join(', ')}`).toEqual([]);
    // It shows something of every service.
    for (const prefix of ['tmon_collector_', 'tmon_processor_', 'tmon_storage_', 'tmon_alert_', 'tmon_backup_', 'tmon_gateway_']) {
      expect([...used].some((name) => name.startsWith(prefix)), prefix).toBe(true);
    }
  });

  it('game-metrics.json reads only metrics docs/grafana.md names', () => {
    const used = new Set(expressionsOf(dashboard('game-metrics.json')).flatMap((e) => metricNames(e.expr)));
    expect(used.size).toBeGreaterThan(0);
    for (const name of used) expect(docs.includes(`\`${name}\``), `docs/grafana.md names \`${name}\``).toBe(true);
  });
});
