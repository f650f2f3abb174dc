import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase } from '@terminusa/testkit';
import { PgUserStore } from './user-store.ts';

let pool: pg.Pool;
let cleanup: () => Promise<void>;
let users: PgUserStore;

beforeAll(async () => {
  ({ pool, cleanup } = await createTestDatabase({ applicationName: 'user-store-test' }));
  users = new PgUserStore(pool);
});

afterAll(() => cleanup?.());

describe('the last enabled admin', () => {
  it('cannot be demoted or disabled; another admin can, and a missing user is undefined', async () => {
    await users.ensureAdmin('root', 'root-password-123');
    const root = (await users.byUsername('root'))!;
    expect(await users.update(root.id, { role: 'operator' })).toBe('last-admin');
    expect(await users.update(root.id, { disabled: true })).toBe('last-admin');
    // Changing its password, or setting what it has, is not losing an admin.
    expect(await users.update(root.id, { password: 'another-password-1', role: 'admin' })).toMatchObject({ user: { role: 'admin', disabled: false } });

    const second = (await users.create('second-admin', 'second-password-1', 'admin'))!;
    expect(await users.update(root.id, { role: 'viewer' })).toMatchObject({ user: { role: 'viewer' }, before: { role: 'admin' } });
    expect(await users.update(second.id, { disabled: true })).toBe('last-admin');
    expect(await users.update(root.id, { role: 'admin' })).toMatchObject({ user: { role: 'admin' } });
    expect(await users.update('00000000-0000-4000-8000-000000000000', { role: 'viewer' })).toBeUndefined();
  });

  it('survives two admins demoting each other at the same moment: one change wins, one admin is left', async () => {
    const a = (await users.create('race-a', 'race-a-password-1', 'admin'))!;
    const b = (await users.create('race-b', 'race-b-password-1', 'admin'))!;
    // Only these two are enabled admins now.
    await pool.query("UPDATE users SET role = 'viewer' WHERE role = 'admin' AND id NOT IN ($1, $2)", [a.id, b.id]);
    for (let round = 0; round < 20; round++) {
      const outcomes = await Promise.all([users.update(a.id, { role: 'viewer' }), users.update(b.id, { disabled: true })]);
      expect(outcomes.filter((o) => o === 'last-admin')).toHaveLength(1);
      const { rows } = await pool.query("SELECT count(*)::int AS n FROM users WHERE role = 'admin' AND NOT disabled");
      expect(rows[0].n).toBe(1);
      await pool.query("UPDATE users SET role = 'admin', disabled = false WHERE id IN ($1, $2)", [a.id, b.id]);
    }
  });
});

describe('a sign-in’s upgrade of an old password hash', () => {
  it('replaces the hash it read, and leaves a password reset since alone', async () => {
    const user = (await users.create('rehash-user', 'old-password-123', 'viewer'))!;
    const hashOf = async () => (await users.credentials('rehash-user'))!.passwordHash;
    const read = await hashOf();
    expect(await users.rehash(user.id, read, 'old-password-123')).toBe(true);
    const upgraded = await hashOf();
    expect(upgraded).not.toBe(read);
    // Reset by an admin after the sign-in read the account: the sign-in's upgrade must not put the old password back.
    await users.update(user.id, { password: 'new-password-456' });
    const reset = await hashOf();
    expect(await users.rehash(user.id, upgraded, 'old-password-123')).toBe(false);
    expect(await hashOf()).toBe(reset);
  });
});
