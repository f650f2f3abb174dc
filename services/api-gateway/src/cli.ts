import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { Command } from 'commander';
import { loadConfigOrExit } from '@terminusa/config';
import { createPool, ensureDatabase, prepareSchema } from '@terminusa/database';
import { createRedis } from '@terminusa/runtime';
import { PgAuditLog } from './audit-log.ts';
import { TokenService } from './auth/tokens.ts';
import { PgUserStore } from './auth/user-store.ts';

const config = loadConfigOrExit({}, 'tmon-gateway');

/** Reads all of stdin (a password piped in). */
async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text.trim();
}

const program = new Command('tmon-gateway')
  .description('Operator commands of the gateway, run where the database and configuration are reachable (settings from the environment and CONFIG_FILE)')
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program
  .command('reset-password')
  .description('set a new password for a user (a forgotten admin password included): generated and printed once, or read from stdin; recorded in the audit log')
  .argument('<username>')
  .option('--stdin', 'read the new password from stdin instead of generating one')
  .action(async (username: string, opts: { stdin?: boolean }) => {
    if (config.database.migrate) await ensureDatabase(config.database.url);
    const pool = createPool(config.database, 'tmon-gateway');
    try {
      await prepareSchema(pool, config.database, 'api-gateway', { info: (message) => process.stderr.write(`${message}\n`) });
      const users = new PgUserStore(pool);
      const user = await users.byUsername(username);
      if (!user) {
        process.stderr.write(`error: no user ${username}\n`);
        process.exitCode = 6;
        return;
      }
      const password = opts.stdin ? await readStdin() : randomBytes(18).toString('base64url');
      if (password.length < 12) {
        process.stderr.write('error: a password has at least 12 characters\n');
        process.exitCode = 2;
        return;
      }
      await users.update(user.id, { password });
      // Whoever knew the old password may hold its tokens: every session of the user ends, as on the API.
      const redis = createRedis(config, 'commands', 'tmon-gateway');
      try {
        await (await TokenService.fromConfig(config, redis)).revokeUser(user.username);
      } catch (err) {
        process.stderr.write(`error: the password is set, but the sessions of ${username} could not be ended (Redis: ${(err as Error).message}); run again once Redis is reachable\n`);
        process.exitCode = 1;
      } finally {
        redis.disconnect();
      }
      // Who ran it is the operating-system account on this host: the database does not know them.
      await new PgAuditLog(pool).record({ actor: `local:${userInfo().username}@${hostname()}`, action: 'user.password-reset', target: `/users/${user.id}`, detail: { username, by: 'tmon-gateway reset-password' }, address: '', requestId: '' });
      if (opts.stdin) process.stderr.write(`password of ${username} set\n`);
      else process.stdout.write(`${password}\n`);
    } finally {
      await pool.end();
    }
  });

await program.parseAsync();
