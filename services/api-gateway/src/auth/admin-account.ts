import { scrypt as scryptCb, randomBytes, timingSafeEqual, type BinaryLike } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '@terminusa/config';
import type { Logger } from '@terminusa/runtime';
import { readOrCreateSecret } from './secret-file.ts';

const scrypt = promisify(scryptCb) as (password: BinaryLike, salt: BinaryLike, keylen: number) => Promise<Buffer>;

/** The name of the first administrator. */
export const ADMIN_USERNAME = 'admin';

/** Checks a username and password; only the hash of the password is kept in memory. */
export interface Credentials {
  verify(username: string, password: string): Promise<boolean>;
}

/**
 * The first admin: its password comes from configuration (ADMIN_PASSWORD) or is generated once into
 * `<dataDir>/admin-password` with mode 0600. The file's path is logged, the password never.
 */
export async function loadAdminAccount(config: Readonly<Config>, logger: Logger): Promise<Credentials> {
  let password = config.auth.adminPassword;
  if (!password) {
    const path = join(config.dataDir, 'admin-password');
    const secret = await readOrCreateSecret(path, 18);
    password = secret.value;
    if (secret.created) logger.warn('generated the first admin password; read it from the file and change it', { file: path, username: ADMIN_USERNAME });
  }
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32);
  return {
    async verify(username, candidate) {
      const attempt = await scrypt(candidate, salt, 32);
      return username === ADMIN_USERNAME && timingSafeEqual(attempt, hash);
    },
  };
}
