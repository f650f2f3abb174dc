/**
 * Producer credentials (`pnpm nats:producer`): one NKEY user per game service, its public key in
 * deploy/nats/producers.json and the rendered permissions.conf, scoped to its own source; names that would share
 * a suite user's inbox or a suite source are refused.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nkeys } from 'nats';
import { applyProducerCommand } from './nats-producer.ts';
import { NATS_USERS, RESERVED_PRODUCER_NAMES, natsPasswordVariable, producerPermissions, renderNatsPermissions, renderNatsServerConfig, shippedProducers } from './nats-permissions.ts';
import { PRODUCERS_FILE, readProducers, writeProducers } from './producers.ts';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const dir = mkdtempSync(join(tmpdir(), 'tmon-nats-producer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pnpm nats:producer', () => {
  it('adds a producer with a new NKEY: the seed signs for the public key that goes into the configuration', () => {
    const { producers, seed } = applyProducerCommand([], { name: 'game-eu', action: 'add' });
    expect(producers).toHaveLength(1);
    expect(producers[0]!.name).toBe('game-eu');
    expect(seed).toMatch(/^SU[A-Z2-7]{56}$/);
    const pair = nkeys.fromSeed(new TextEncoder().encode(seed!));
    expect(pair.getPublicKey()).toBe(producers[0]!.nkey);
    // The configuration holds the public key only.
    const conf = renderNatsPermissions('', producers);
    expect(conf).toContain(`nkey: "${producers[0]!.nkey}"`);
    expect(conf).not.toContain(seed!);
  });

  it('refuses a second key under one name unless rotating, and rotating or removing an unknown one', () => {
    const { producers } = applyProducerCommand([], { name: 'game-eu', action: 'add' });
    expect(() => applyProducerCommand(producers, { name: 'game-eu', action: 'add' })).toThrow(/exists; --rotate/);
    expect(() => applyProducerCommand(producers, { name: 'GAME-EU', action: 'add' })).toThrow(/exists/);
    const rotated = applyProducerCommand(producers, { name: 'game-eu', action: 'rotate' });
    expect(rotated.producers).toHaveLength(1);
    expect(rotated.producers[0]!.nkey).not.toBe(producers[0]!.nkey);
    expect(applyProducerCommand(rotated.producers, { name: 'game-eu', action: 'remove' }).producers).toEqual([]);
    expect(() => applyProducerCommand([], { name: 'game-us', action: 'rotate' })).toThrow(/no producer/);
    expect(() => applyProducerCommand([], { name: 'game-us', action: 'remove' })).toThrow(/no producer/);
  });

  it('refuses the names of the suite’s users and sources, and names that are not one subject token', () => {
    expect(RESERVED_PRODUCER_NAMES).toEqual(expect.arrayContaining([...NATS_USERS, 'collector', 'scrape', 'probe', 'rules', 'backup']));
    for (const name of ['processor', 'api-gateway', 'bootstrap', 'admin', 'scrape', 'rules', 'Processor', '_samples', 'a.b', 'a*', 'a>', '', 'x'.repeat(65)]) {
      expect(() => applyProducerCommand([], { name, action: 'add' }), name).toThrow();
    }
    expect(() => renderNatsPermissions('', [{ name: 'processor', nkey: nkeys.createUser().getPublicKey() }])).toThrow(/user or a source of the suite/);
  });

  it('scopes a producer to its own source and inbox, in any namespace', () => {
    expect(producerPermissions('game-eu')).toEqual({ publish: ['metrics.ingest.game-eu', 'events.game-eu.>'], subscribe: ['_INBOX_game-eu.>'], allowResponses: false });
    expect(producerPermissions('game-eu', 't1').publish).toEqual(['t1.metrics.ingest.game-eu', 't1.events.game-eu.>']);
  });

  it('reads and writes the producers file, and refuses a malformed one', () => {
    const file = join(dir, 'producers.json');
    const a = applyProducerCommand([], { name: 'zeta', action: 'add' }).producers;
    const b = applyProducerCommand(a, { name: 'alpha', action: 'add' }).producers;
    writeProducers(b, file);
    expect(readProducers(file).map((p) => p.name)).toEqual(['alpha', 'zeta']);
    writeFileSync(file, JSON.stringify({ producers: [{ name: 'game', nkey: 'not-a-key' }] }));
    expect(() => readProducers(file)).toThrow(/public NKEY/);
    writeFileSync(file, JSON.stringify({ producers: [{ name: 'game', nkey: a[0]!.nkey }, { name: 'Game', nkey: a[0]!.nkey }] }));
    expect(() => readProducers(file)).toThrow(/listed twice/);
    writeFileSync(file, JSON.stringify([]));
    expect(() => readProducers(file)).toThrow(/expected/);
    // The shipped file is valid.
    expect(() => shippedProducers()).not.toThrow();
    expect(JSON.parse(readFileSync(PRODUCERS_FILE, 'utf8'))).toHaveProperty('producers');
  });

  it('nats-server accepts the configuration with producers beside the password users', () => {
    const producers = ['game-eu', 'game-us'].reduce((list, name) => applyProducerCommand(list, { name, action: 'add' }).producers, [] as ReturnType<typeof applyProducerCommand>['producers']);
    writeFileSync(join(dir, 'permissions.conf'), renderNatsPermissions('', producers));
    writeFileSync(join(dir, 'nats.conf'), renderNatsServerConfig().replace('store_dir: "/data"', `store_dir: ${JSON.stringify(join(dir, 'js'))}`));
    const env = Object.fromEntries(NATS_USERS.map((u) => [natsPasswordVariable(u), `pw-${u}`]));
    const run = spawnSync(NATS_SERVER, ['-t', '-c', join(dir, 'nats.conf')], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
    expect(run.status, run.stderr + run.stdout).toBe(0);
  });
});
