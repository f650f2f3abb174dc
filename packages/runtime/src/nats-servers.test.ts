import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@terminusa/config';
import { natsServers } from './nats-servers.ts';

describe('natsServers', () => {
  it('takes the user and password out of the URLs', () => {
    expect(natsServers('nats://processor:s%40cret@nats:4222, nats-1:4222')).toEqual({ servers: ['nats://nats:4222', 'nats://nats-1:4222'], user: 'processor', pass: 's@cret' });
    expect(natsServers('nats://nats:4222')).toEqual({ servers: ['nats://nats:4222'] });
  });

  it('connects as the user of NATS_URL with the password of NATS_PASSWORD_FILE (a Docker or Kubernetes secret)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tmon-nats-servers-'));
    writeFileSync(join(dir, 'nats_password'), 'p@ss:w/rd%\n');
    const config = loadConfig({ env: { NATS_URL: 'nats://alert-manager@nats:4222', NATS_PASSWORD_FILE: join(dir, 'nats_password') } });
    expect(natsServers(config.nats.url)).toEqual({ servers: ['nats://nats:4222'], user: 'alert-manager', pass: 'p@ss:w/rd%' });
  });
});
