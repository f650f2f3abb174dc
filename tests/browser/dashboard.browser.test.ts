import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createPool } from '@terminusa/database';
import { startSuite, STARTUP_MS, waitFor, type RunningSuite } from '@terminusa/testkit';
import { CHROMIUM_ARGS, SETTLE_MS } from './browser-settings.ts';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const RULES = `rules:
  - { name: BrowserHot, metric: browser_temp, comparator: ">", threshold: 90, severity: critical, summary: "Too hot on {{host}}", message: "temperature {{value}}" }
`;
/** The host whose live samples the tests publish (the names show in the committed screenshot). */
const HOST = 'game-eu-2';
const VIEWER = { username: 'viewer1', password: 'viewer-password-123' };

let suite: RunningSuite;
let nc: NatsConnection;
let browser: Browser;
let rulesDir: string;
const consoleErrors: string[] = [];

/** Publishes samples the way a game service does, on the suite's namespace. */
function publish(samples: { name: string; value: number; ts?: number; tags?: Record<string, string> }[]): void {
  nc.publish(`${suite.ns.id}.metrics.ingest.browser`, new TextEncoder().encode(JSON.stringify({ samples })));
}

/** Half an hour of a host's system metrics, so the overview starts with drawn history (and the screenshot shows it). */
function publishHostHistory(host: string): void {
  const now = Date.now();
  for (let i = 30; i >= 1; i--) {
    const ts = now - i * 60_000;
    const wave = Math.sin(i / 4);
    publish([
      { name: 'system_cpu_usage_percent', value: 35 + 20 * wave + (i % 3) * 4, ts, tags: { host, cpu: 'total' } },
      { name: 'system_memory_used_percent', value: 61 + 3 * Math.cos(i / 6), ts, tags: { host } },
      { name: 'system_disk_used_percent', value: 72 + i / 30, ts, tags: { host, mount: '/', device: '/dev/sda1' } },
      { name: 'system_disk_used_percent', value: 41, ts, tags: { host, mount: '/var/lib/postgresql', device: '/dev/sdb1' } },
      { name: 'system_network_receive_bytes_per_second', value: 2_400_000 + 900_000 * wave, ts, tags: { host, interface: 'eth0' } },
      { name: 'system_network_transmit_bytes_per_second', value: 1_100_000 + 500_000 * Math.cos(i / 3), ts, tags: { host, interface: 'eth0' } },
    ]);
  }
}

async function signIn(context: BrowserContext, username: string, password: string): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (msg) => msg.type() === 'error' && consoleErrors.push(msg.text()));
  page.on('pageerror', (err) => consoleErrors.push(err.message));
  await page.goto(`${suite.base}/#/overview`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[data-live="live"]').waitFor({ timeout: SETTLE_MS });
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  rulesDir = await mkdtemp(join(tmpdir(), 'tmon-browser-'));
  await writeFile(join(rulesDir, 'alert-rules.yaml'), RULES);
  suite = await startSuite({
    services: ['processor', 'storage', 'alert-manager'],
    // Minutes rolled up 2 s after they end instead of 30 s: the host history below is published minutes late.
    env: { ALERT_RULES_FILE: join(rulesDir, 'alert-rules.yaml'), TMON_ALERTS__GROUP_WAIT: '1', TMON_ALERTS__SWEEP_INTERVAL: '0.2', TMON_STORAGE__ROLLUP_SETTLE: '2s', LOG_LEVEL: 'warn' },
  });
  nc = await connect({ servers: suite.ns.config.nats.url });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  publishHostHistory('game-eu-1');
  await waitFor(
    async () => ((await suite.api('/metrics/history?name=system_network_transmit_bytes_per_second&from=' + (Date.now() - 3_600_000))).body.series?.[0]?.points.length === 30 ? true : undefined),
    20_000,
    'host history stored',
  );
  // Charts read buckets from the rollups, which count these late samples once the next run has computed their minutes.
  await waitFor(
    async () => ((await suite.api('/metrics/history?step=60000&name=system_network_transmit_bytes_per_second&from=' + (Date.now() - 3_600_000))).body.series?.[0]?.points.length === 30 ? true : undefined),
    30_000,
    'host history rolled up',
    250,
  );
}, STARTUP_MS + 60_000);

afterAll(async () => {
  await browser?.close();
  await nc?.close();
  await suite?.stop();
  await rm(rulesDir, { recursive: true, force: true });
});

describe('the dashboard served by the gateway', () => {
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  });
  afterAll(() => context?.close());

  it('serves the sign-in page without a token and signs the admin in', async () => {
    const res = await fetch(`${suite.base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const signInPage = await context.newPage();
    await signInPage.goto(suite.base);
    await signInPage.getByRole('button', { name: 'Sign in' }).waitFor();
    await shot(signInPage, 'sign-in');
    await signInPage.close();

    page = await signIn(context, 'admin', suite.adminPassword);
    await expect(page.locator('.who').textContent()).resolves.toContain('admin (admin)');
  });

  // Its waits (the first sample's, then two draws of SETTLE_MS each at most) add up to more than the default 30 s.
  it('draws a sample published on NATS on a live chart, and moves it with the next one', async () => {
    // The stored history of game-eu-1 is drawn from /metrics/history first.
    await page.locator('figure[data-host="game-eu-1"][data-metric="system_network_receive_bytes_per_second"]').waitFor();
    // A first live sample proves the subscription is in place before the timed one. It is sent again until it is
    // drawn: one sent before the page's live stream subscribed is not delivered (once in a CI run, 2026-12-04).
    const first = page.locator('figure[data-host="game-us-1"][data-metric="system_cpu_usage_percent"][data-latest="12"]');
    await waitFor(
      async () => {
        publish([{ name: 'system_cpu_usage_percent', value: 12, tags: { host: 'game-us-1', cpu: 'total' } }]);
        return first.waitFor({ timeout: 1_000 }).then(
          () => true,
          () => undefined,
        );
      },
      SETTLE_MS,
      'the first live sample drawn',
      0,
    );

    const chart = page.locator(`figure[data-host="${HOST}"][data-metric="system_cpu_usage_percent"]`);
    // A deadline for a busy machine (two cores, every test file at once), not a speed target: the time is printed.
    const started = Date.now();
    publish([{ name: 'system_cpu_usage_percent', value: 42.5, tags: { host: HOST, cpu: 'total' } }]);
    await page.locator(`figure[data-host="${HOST}"][data-metric="system_cpu_usage_percent"][data-latest="42.5"]`).waitFor({ timeout: SETTLE_MS });
    console.log(`live sample drawn ${Date.now() - started} ms after it was published`);
    await expect(chart.locator('output.latest').textContent()).resolves.toBe('42.5 %');
    // The next sample moves the same chart: it is live, not a one-off draw.
    publish([{ name: 'system_cpu_usage_percent', value: 57.25, tags: { host: HOST, cpu: 'total' } }]);
    await page.locator(`figure[data-host="${HOST}"][data-metric="system_cpu_usage_percent"][data-latest="57.25"]`).waitFor({ timeout: SETTLE_MS });
  }, 90_000);

  it('shows an alert when a sample breaches a rule, live on the overview counts and the alerts page', async () => {
    publish([{ name: 'browser_temp', value: 95, tags: { host: HOST } }]);
    await page.locator('li[data-severity="critical"] strong[data-count="1"]').waitFor({ timeout: SETTLE_MS });
    await page.locator('figure[data-host="game-eu-1"] canvas').first().waitFor();
    await shot(page, 'overview');

    await page.getByRole('link', { name: 'Alerts' }).click();
    const card = page.locator('li.alert-card[data-rule="BrowserHot"]');
    await card.waitFor({ timeout: SETTLE_MS });
    await expect(card.getAttribute('class')).resolves.toContain('sev-critical');
    await expect(card.textContent()).resolves.toContain(`Too hot on ${HOST}`);
    await expect(page.locator('.alert-list').getAttribute('aria-live')).resolves.toBe('polite');
  });

  it('hides the acknowledge button from a viewer, whose first load of the active alerts failed and was tried again', async () => {
    const created = await suite.api('/users', { method: 'POST', body: JSON.stringify({ ...VIEWER, role: 'viewer' }) });
    expect(created.status).toBe(201);
    const viewerContext = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    // The gateway's first answer is replaced by a 503, as a restarting gateway or a proxy would answer.
    let refused = 0;
    const loads: string[] = [];
    await viewerContext.route('**/alerts/active', async (route) => {
      if (refused++ === 0) await route.fulfill({ status: 503, contentType: 'application/problem+json', body: JSON.stringify({ detail: 'unavailable' }) });
      else await route.continue();
    });
    viewerContext.on('response', (res) => res.url().endsWith('/alerts/active') && loads.push(`${new Date().toISOString()} ${res.status()}`));
    try {
      const viewerPage = await signIn(viewerContext, VIEWER.username, VIEWER.password);
      const pageLog: string[] = [];
      viewerPage.on('console', (msg) => pageLog.push(`${msg.type()}: ${msg.text()}`));
      await viewerPage.getByRole('link', { name: 'Alerts' }).click();
      const card = viewerPage.locator('li.alert-card[data-rule="BrowserHot"]');
      // A miss (2026-12-03, and 2026-12-04 with the list never loaded: fixed in useActiveAlerts) leaves a
      // screenshot, what the page showed, its answers of /alerts/active and its console, to tell why.
      await card.waitFor({ timeout: SETTLE_MS }).catch(async (err: unknown) => {
        await shot(viewerPage, 'alerts-viewer-phone-failed');
        const text = (await viewerPage.locator('body').innerText({ timeout: 2_000 }).catch(String)).slice(0, 2000);
        const loaded = await viewerPage.locator('.alert-list').getAttribute('data-loaded', { timeout: 2_000 }).catch(String);
        throw new Error(`${String(err)}\n--- the viewer's page (list loaded: ${loaded}) ---\n${text}\n--- /alerts/active answers ---\n${loads.join('\n')}\n--- console ---\n${pageLog.join('\n')}`);
      });
      expect(refused).toBeGreaterThanOrEqual(2);
      await expect(card.getByRole('button').count()).resolves.toBe(0);
      await expect(viewerPage.getByRole('link', { name: 'Admin' }).count()).resolves.toBe(0);
      await shot(viewerPage, 'alerts-viewer-phone');
    } finally {
      await viewerContext.close();
    }
  });

  it('acknowledges the alert with a comment', async () => {
    const card = page.locator('li.alert-card[data-rule="BrowserHot"]');
    await card.getByRole('button', { name: 'Acknowledge' }).click();
    await card.getByLabel('Comment').fill('looking into the cooling');
    await card.getByRole('button', { name: 'Confirm acknowledge' }).click();
    await page.locator('li.alert-card[data-rule="BrowserHot"][data-acked="yes"]').waitFor({ timeout: SETTLE_MS });
    await expect(card.textContent()).resolves.toContain('Acknowledged by admin');
    await expect(card.textContent()).resolves.toContain('looking into the cooling');
    await expect(card.getByRole('button', { name: 'Acknowledge' }).count()).resolves.toBe(0);
    const { body } = await suite.api('/alerts/active');
    expect(body.alerts.find((a: any) => a.rule === 'BrowserHot').ack).toMatchObject({ by: 'admin', comment: 'looking into the cooling' });
  });

  it('creates a silence from the alert with its labels pre-filled, lists it and expires it', async () => {
    const card = page.locator('li.alert-card[data-rule="BrowserHot"]');
    await card.getByRole('button', { name: 'Silence…' }).click();
    const matchers = page.getByLabel('Matchers (label=value, all must match)');
    await expect(matchers.inputValue()).resolves.toContain('alertname=BrowserHot');
    await expect(matchers.inputValue()).resolves.toContain(`host=${HOST}`);
    await page.getByLabel('Why').fill('maintenance of the cooling');
    await page.getByRole('button', { name: 'Create silence' }).click();
    const row = page.locator('tr[data-silence-id]', { hasText: 'maintenance of the cooling' });
    await row.waitFor({ timeout: 5_000 });
    await page.locator('.history-table tbody tr').first().waitFor({ timeout: SETTLE_MS });
    await shot(page, 'alerts');
    await row.getByRole('button', { name: 'Expire' }).click();
    await row.waitFor({ state: 'detached', timeout: 5_000 });
    expect((await suite.api('/silences')).body.silences).toEqual([]);
  });

  // Its waits (storage 15 s, rollups 60 s, the page's own) add up to more than the default 30 s test timeout.
  it('draws history in the explorer, found by searching the metric name', async () => {
    const now = Date.now();
    publish(Array.from({ length: 20 }, (_, i) => ({ name: 'browser_latency_ms', value: 80 + 30 * Math.sin(i / 3), ts: now - (20 - i) * 30_000, tags: { region: i % 2 ? 'eu' : 'us' } })));
    await waitFor(async () => ((await suite.api(`/metrics/history?name=browser_latency_ms&from=${now - 3_600_000}`)).body.series?.length === 2 ? true : undefined), 15_000, 'latency history stored');
    // The samples are up to 10 minutes old, later than their minutes were rolled up; the chart below reads buckets.
    const euMinutes = new Set(Array.from({ length: 20 }, (_, i) => i).filter((i) => i % 2).map((i) => Math.floor((now - (20 - i) * 30_000) / 60_000))).size;
    // Up to 60 s: the storage folds every 5 s, but a fold waits its turn on a machine running every test file at once.
    await waitFor(
      async () => {
        const { body } = await suite.api(`/metrics/history?name=browser_latency_ms&tag.region=eu&agg=max&step=60000&from=${now - 3_600_000}`);
        const minutes = (body.series?.[0]?.points ?? []).map((p: number[]) => new Date(p[0]!).toISOString().slice(11, 16));
        if (minutes.length === euMinutes) return true;
        // Kept as the last state, so a timeout says which minutes were missing.
        throw new Error(`${minutes.length} of ${euMinutes} minutes (tier ${body.tier}, segments ${JSON.stringify(body.segments)}): ${minutes.join(' ')}`);
      },
      60_000,
      'latency history rolled up',
      250,
    ).catch(async (err: unknown) => {
      // A miss (2026-12-04, 0 of 10 minutes under a full CI run) says what the rollups had done and the storage logged.
      throw new Error(`${String(err)}\n--- rollups ---\n${await rollupState(suite.ns.config)}\n--- storage ---\n${suite.procs.find((p) => p.name === 'storage')?.output().slice(-3000)}`);
    });

    await page.getByRole('link', { name: 'Explorer' }).click();
    const metric = page.getByLabel('Metric');
    await metric.fill('latency');
    await page.locator('#metric-names option[value="browser_latency_ms"]').waitFor({ state: 'attached', timeout: 5_000 });
    await metric.fill('browser_latency_ms');
    await page.getByLabel('Time range').selectOption('15m');
    await page.getByRole('button', { name: 'Draw' }).click();
    const chart = page.locator('figure.history-chart[data-metric="browser_latency_ms"]');
    await chart.waitFor({ timeout: 5_000 });
    await expect(chart.getAttribute('data-points')).resolves.toBe('20');
    // uPlot draws once the figure is laid out (it needs the width), a moment after the figure appears.
    await chart.locator('canvas').first().waitFor({ state: 'attached', timeout: SETTLE_MS });

    await page.getByLabel('Tag filters').fill('region=eu');
    await page.getByLabel('Aggregation').selectOption('max');
    await page.getByLabel('Time range').selectOption('1h');
    await page.getByRole('button', { name: 'Draw' }).click();
    // max over the eu series only: one combined series of the 10 eu samples, in buckets.
    await page.locator('.series-table tbody tr').nth(1).waitFor({ state: 'detached', timeout: 5_000 });
    await page.getByRole('button', { name: 'Draw' }).waitFor();
    await expect(page.locator('.series-table tbody tr').count()).resolves.toBe(1);
    await expect(chart.getAttribute('data-points')).resolves.not.toBe('0');
    await shot(page, 'explorer');
  }, 120_000);

  it('shows users, API keys and backups to the admin', async () => {
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.locator(`tr[data-user="${VIEWER.username}"]`).waitFor({ timeout: 5_000 });
    await page.getByRole('heading', { name: 'Backups' }).waitFor();
    await shot(page, 'admin');
    // An API key made here is shown once, listed, and revoked from its row, which then leaves the list of live keys.
    const form = page.getByRole('form', { name: 'new API key' });
    await form.getByLabel('Name').fill('browser-key');
    await form.getByRole('button', { name: 'Create key' }).click();
    await expect(page.locator('.secret code').textContent({ timeout: 5_000 })).resolves.toMatch(/\S{20,}/);
    const row = page.locator('tr', { has: page.getByRole('rowheader', { name: 'browser-key' }) });
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.waitFor({ state: 'detached', timeout: 5_000 });
    const { body } = await suite.api('/api-keys?revoked=true');
    expect(body.apiKeys.find((k: any) => k.name === 'browser-key')).toMatchObject({ revoked: true });
  });

  it('can be used from the keyboard: skip link first, then the pages', async () => {
    await page.reload();
    await page.locator('[data-live="live"]').waitFor({ timeout: SETTLE_MS });
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => (globalThis as any).document.activeElement?.textContent?.trim())).resolves.toBe('Skip to content');
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => (globalThis as any).document.activeElement?.textContent?.trim())).resolves.toBe('Overview');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Explorer', level: 1 }).waitFor();
    // Focus moves to the new page's content once it has rendered (an effect after the render, so wait for it).
    await page.waitForFunction(() => (globalThis as any).document.activeElement?.id === 'content', undefined, { timeout: 5_000 });
  });

  it('loads without violating the content security policy', () => {
    expect(consoleErrors.filter((e) => /Content Security Policy|Refused to/i.test(e))).toEqual([]);
  });
});

/** The rollups' watermarks and pending marks in the suite's schema, for a failure message. */
async function rollupState(config: RunningSuite['ns']['config']): Promise<string> {
  const pool = createPool(config.database, 'browser-test');
  try {
    const marks = await pool.query('SELECT tier, until FROM rollup_watermarks ORDER BY until');
    const dirty = await pool.query('SELECT name, minute, claim, marked_at FROM rollup_dirty ORDER BY minute LIMIT 40');
    const rows = await pool.query('SELECT count(*)::int AS n, max(bucket) AS last FROM rollup_1m');
    // The test's metric per series: which minutes its rows hold (a miss of 2026-12-06 found every mark cleared).
    const latency = await pool.query(
      `SELECT s.tags, array_agg(to_char(r.bucket AT TIME ZONE 'UTC', 'HH24:MI') ORDER BY r.bucket) AS minutes
         FROM series s LEFT JOIN rollup_1m r ON r.series_id = s.id WHERE s.name = 'browser_latency_ms' GROUP BY s.tags`,
    );
    return JSON.stringify({ now: new Date(), watermarks: marks.rows, dirty: dirty.rows, rollup1m: rows.rows[0], browserLatency1m: latency.rows });
  } catch (err) {
    return String(err);
  } finally {
    await pool.end();
  }
}
