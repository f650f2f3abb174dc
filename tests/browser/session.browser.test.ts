import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { startSuite, STARTUP_MS, waitFor, type RunningSuite } from '@terminusa/testkit';
import { CHROMIUM_ARGS, SETTLE_MS } from './browser-settings.ts';

let suite: RunningSuite;
let browser: Browser;

// Tokens of 65 s refreshed in their last 62 s: the dashboard refreshes a minute before expiry, i.e. ~5 s after sign-in.
beforeAll(async () => {
  suite = await startSuite({ services: [], env: { TMON_AUTH__TOKEN_EXPIRY: '65', TMON_AUTH__REFRESH_WINDOW: '62', LOG_LEVEL: 'warn' } });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, STARTUP_MS + 30_000);

afterAll(async () => {
  await browser?.close();
  await suite?.stop();
});

describe('the dashboard session', () => {
  it('refreshes the token inside its window, keeps the live stream, and signs out by revoking it', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(suite.base);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(suite.adminPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-live="live"]').waitFor({ timeout: SETTLE_MS });
    // Runs in the page, where sessionStorage exists; Node's types do not know it.
    const tokenNow = () => page.evaluate(() => (JSON.parse((globalThis as any).sessionStorage.getItem('tmon.session') ?? '{}') as { token?: string }).token);
    const first = await tokenNow();
    expect(first).toBeTruthy();

    const second = await waitFor(async () => {
      const t = await tokenNow();
      return t && t !== first ? t : undefined;
    }, 20_000, 'the token refreshed');
    await expect(page.locator('[data-live]').getAttribute('data-live')).resolves.toBe('live');
    // The old token was revoked by the refresh; the new one works, and a reload keeps the tab signed in with it.
    expect((await suite.api('/services', { token: first! })).status).toBe(401);
    expect((await suite.api('/services', { token: second })).status).toBe(200);
    await page.reload();
    await page.locator('[data-live="live"]').waitFor({ timeout: SETTLE_MS });
    await page.getByRole('link', { name: 'Alerts' }).click();
    await page.getByRole('heading', { name: 'History' }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await waitFor(async () => ((await suite.api('/services', { token: second })).status === 401 ? true : undefined), 5_000, 'the token revoked');
    await expect(tokenNow()).resolves.toBeUndefined();
    await context.close();
  });
});
