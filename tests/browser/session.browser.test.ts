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

  it('returns to the sign-in page within seconds when the user is signed out elsewhere, and refuses ?token= on /ws', async () => {
    // The first test's sign-out revoked every admin token, the suite's included: a new sign-in makes the user.
    const admin = await suite.login('admin', suite.adminPassword);
    const user = { username: 'elsewhere', password: 'elsewhere-password-1' };
    expect((await suite.api('/users', { method: 'POST', token: admin, body: JSON.stringify({ ...user, role: 'viewer' }) })).status).toBe(201);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(suite.base);
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-live="live"]').waitFor({ timeout: SETTLE_MS });

    // Signing out from the command line (another session of the same user) ends the tab's session too: its live
    // stream is closed with 4401 and the dashboard, asking the API, gets 401 and shows the sign-in page.
    const signedOut = Date.now();
    const other = await suite.login(user.username, user.password);
    expect((await suite.api('/auth/logout', { method: 'POST', token: other })).status).toBe(204);
    await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: 5_000 });
    console.log(`dashboard back at the sign-in page ${Date.now() - signedOut} ms after a sign-out elsewhere`);

    // A credential in the /ws URL is refused outright (it would be in access logs), even a valid one.
    const fresh = await suite.login(user.username, user.password);
    const outcome = await page.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(url);
          ws.onopen = () => resolve('open');
          ws.onclose = (event) => resolve(`closed ${event.code}`);
        }),
      `${suite.base.replace(/^http/, 'ws')}/ws?token=${fresh}`,
    );
    expect(outcome).toBe('closed 1006');
    await context.close();
  });
});
