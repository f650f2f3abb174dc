import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '@terminusa/config';
import type { Logger } from '@terminusa/runtime';
import { readOrCreateSecret } from './secret-file.ts';
import type { PgUserStore } from './user-store.ts';

/** The name of the first administrator. */
export const ADMIN_USERNAME = 'admin';

/** How an operator with access to the database and configuration sets a forgotten password (docs/admin.md). */
export const RESET_COMMAND = 'services/api-gateway/bin/tmon-gateway.mjs reset-password <username>';

/**
 * Creates the first admin when no user `admin` exists. Its password comes from configuration (ADMIN_PASSWORD)
 * or is generated once into `<dataDir>/admin-password` with mode 0600; the file's path is logged, the password
 * never. When the admin exists already (a second checkout or a wiped data folder beside an existing database),
 * nothing is written: a new file would hold a password that opens nothing. The log then says how to reset it.
 */
export async function ensureFirstAdmin(config: Readonly<Config>, users: PgUserStore, logger: Logger): Promise<void> {
  const file = join(config.dataDir, 'admin-password');
  if (await users.byUsername(ADMIN_USERNAME)) {
    // Said loudly only where someone may be looking for the file: no password configured and no file here.
    const missing = !config.auth.adminPassword && !(await exists(file));
    logger[missing ? 'warn' : 'info']('the admin exists, so no admin-password file is written and ADMIN_PASSWORD is not used; to set a forgotten password run the reset command', { username: ADMIN_USERNAME, reset: RESET_COMMAND });
    return;
  }
  const password = config.auth.adminPassword ?? (await readOrCreateSecret(file, 18)).value;
  if (await users.ensureAdmin(ADMIN_USERNAME, password)) {
    if (!config.auth.adminPassword) logger.warn('created the first admin with a generated password; read it from the file and change it', { file, username: ADMIN_USERNAME });
    else logger.info('created the first admin from configuration', { username: ADMIN_USERNAME });
  }
}

const exists = (path: string) => access(path).then(
  () => true,
  () => false,
);
