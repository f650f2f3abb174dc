/**
 * TokenService against the namespace's real Redis: a token whose signature verified once is held (by digest) so a
 * dashboard's next request skips the HMAC, but its expiry, its session and its revocation are still checked at every
 * use, and a token differing by one character is verified on its own.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@terminusa/config';
import { waitFor, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { TokenService } from './tokens.ts';

const JWT_SECRET = 'a-tokens-test-secret-of-at-least-32-characters';
let ns: TestNamespace;

useTestNamespace((opened) => (ns = opened));

const service = (auth: Record<string, unknown>) => TokenService.fromConfig(loadConfig({ env: { ...ns.env, JWT_SECRET }, overrides: { auth } }), ns.redis());

describe('TokenService.verify of a token seen before', () => {
  it('refuses it once it expired, though its signature verified while it was valid', async () => {
    const tokens = await service({ tokenExpiry: 3 });
    // Expiry is in whole seconds: issued late in a second, the token lived a second less than configured, so it is
    // issued just after a second begins and lives about three seconds: both verifies below land well within that
    // on a busy machine (a 1 s expiry left them ~990 ms).
    await new Promise((r) => setTimeout(r, 1_010 - (Date.now() % 1_000)));
    const issued = await tokens.issue('alice', 'viewer');
    expect((await tokens.verify(issued.token)).subject).toBe('alice');
    expect((await tokens.verify(issued.token)).tokenId).toBeTruthy();
    await waitFor(() => (Date.now() / 1000 >= issued.expiresAt ? true : undefined), 10_000, 'the token to expire');
    await expect(tokens.verify(issued.token)).rejects.toMatchObject({ reason: 'expired' });
  });

  it('refuses it once revoked, and refuses a copy with one character of its signature changed', async () => {
    const tokens = await service({});
    const issued = await tokens.issue('bob', 'operator');
    const claims = await tokens.verify(issued.token);
    // The signature's first character: all six of its bits are signature bits. The last one carries two unused
    // bits, so changing A to B (or B, C, D to A) left the signature as it was, one run in sixteen.
    const at = issued.token.lastIndexOf('.') + 1;
    const changed = issued.token[at] === 'A' ? 'B' : 'A';
    await expect(tokens.verify(`${issued.token.slice(0, at)}${changed}${issued.token.slice(at + 1)}`)).rejects.toMatchObject({ reason: 'invalid' });
    await tokens.revoke(claims);
    await expect(tokens.verify(issued.token)).rejects.toMatchObject({ reason: 'revoked' });
  });

  it('refuses every token of a user whose tokens were all revoked, held ones included', async () => {
    const tokens = await service({});
    const issued = await tokens.issue('carol', 'admin');
    await tokens.verify(issued.token);
    await tokens.revokeUser('carol');
    await expect(tokens.verify(issued.token)).rejects.toMatchObject({ reason: 'revoked' });
    expect((await tokens.verify((await tokens.issue('carol', 'admin')).token)).subject).toBe('carol');
  });

  it('refuses a sign-in whose user was revoked after it read the account (a password reset, a role change), and takes the next', async () => {
    const tokens = await service({});
    await tokens.revokeUser('erin');
    const seen = await tokens.signInMark('erin');
    expect((await tokens.verify((await tokens.issue('erin', 'viewer', undefined, seen)).token)).subject).toBe('erin');
    // The password is reset between the sign-in's read of the account and its token.
    await tokens.revokeUser('erin');
    await expect(tokens.issue('erin', 'viewer', undefined, seen)).rejects.toMatchObject({ reason: 'changed-during-sign-in' });
    const again = await tokens.signInMark('erin');
    expect((await tokens.issue('erin', 'viewer', undefined, again)).session.authTime).toBeGreaterThan(0);
    // A user never revoked has no mark: the empty one is what the sign-in saw.
    expect(await tokens.signInMark('frank')).toBe('');
    expect((await tokens.issue('frank', 'viewer', undefined, '')).session.authTime).toBeGreaterThan(0);
  });

  it('takes a sign-in after a revocation for one after it, also when the mark is ahead of the clock', async () => {
    const tokens = await service({});
    await tokens.revokeUser('dave');
    // The mark lies a millisecond past the revocation (refusing a sign-in of that millisecond that came before it),
    // and further when Redis' clock stepped back: a sign-in now begins at the mark, not before it.
    const mark = ns.redis();
    const key = `${ns.config.redis.prefix}auth:user-revoked:dave`;
    await mark.set(key, String(Date.now() + 60_000), 'PX', 120_000);
    const issued = await tokens.issue('dave', 'viewer');
    expect(Math.round(issued.session.authTime * 1000)).toBe(Number(await mark.get(key)));
    expect((await tokens.verify(issued.token)).subject).toBe('dave');
    await tokens.revokeUser('dave');
    expect(Number(await mark.get(key))).toBeGreaterThan(Math.round(issued.session.authTime * 1000));
    await expect(tokens.verify(issued.token)).rejects.toMatchObject({ reason: 'revoked' });
  });
});
