import { chmod, mkdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** The stored login: which gateway, who, the token and when it expires. */
export const StoredLoginSchema = z.object({
  url: z.string(),
  username: z.string(),
  token: z.string(),
  expiresAt: z.string(),
});
/** A stored login. */
export type StoredLogin = z.infer<typeof StoredLoginSchema>;

/** The login file in `configDir`, readable by its owner only (mode 0600, directory 0700). */
export class CredentialStore {
  constructor(readonly configDir: string) {}

  /** The file's path, e.g. `~/.config/tmon/credentials.json`. */
  get path(): string {
    return join(this.configDir, 'credentials.json');
  }

  /** The stored login, or undefined when there is none; a damaged file counts as none. */
  async read(): Promise<StoredLogin | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const parsed = StoredLoginSchema.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    } catch {
      // Not JSON: an old or hand-edited file; the next login replaces it.
      return undefined;
    }
  }

  /** Stores a login, replacing any other. */
  async write(login: StoredLogin): Promise<void> {
    await mkdir(this.configDir, { recursive: true, mode: 0o700 });
    // Written under a temporary name with its final mode, so the token is never readable by others, not even briefly.
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.path);
  }

  /** Removes the stored login; true when there was one. */
  async remove(): Promise<boolean> {
    const existed = (await this.read()) !== undefined;
    await rm(this.path, { force: true });
    return existed;
  }
}
