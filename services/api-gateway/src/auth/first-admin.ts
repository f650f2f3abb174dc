import { join } from 'node:path';
import type { Config } from '@terminusa/config';
import type { Logger } from '@terminusa/runtime';
import { readOrCreateSecret } from './secret-file.ts';
import type { PgUserStore } from './user-store.ts';

/** The name of the first administrator. */
export const ADMIN_USERNAME = 'admin';

/**
 * Creates the first admin when no user `admin` exists. Its password comes from configuration (ADMIN_PASSWORD)
 * or is generated once into `<dataDir>/admin-password` with mode 0600; the file's path is logged, the password never.
 */
export async function ensureFirstAdmin(config: Readonly<Config>, users: PgUserStore, logger: Logger): Promise<void> {
  let password = config.auth.adminPassword;
  let file: string | undefined;
  if (!password) {
    file = join(config.dataDir, 'admin-password');
    password = (await readOrCreateSecret(file, 18)).value;
  }
  if (await users.ensureAdmin(ADMIN_USERNAME, password)) {
    if (file) logger.warn('created the first admin with a generated password; read it from the file and change it', { file, username: ADMIN_USERNAME });
    else logger.info('created the first admin from configuration', { username: ADMIN_USERNAME });
  }
}
