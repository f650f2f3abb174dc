import type { CredentialStore } from './credentials.ts';
import type { CliEnvironment } from './environment.ts';
import { UsageError } from './errors.ts';
import { GatewayClient, type Credential } from './gateway-client.ts';
import { readInputFile } from './read-input-file.ts';

/** The gateway `tmon` talks to when neither `--url`, `TMON_URL` nor a stored login names one. */
export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** The global options every command takes. */
export interface GlobalOptions {
  url?: string;
  /** A file holding the token or API key (`--token-file`). */
  tokenFile?: string;
}

/** The gateway URL in force: `--url`, then `TMON_URL`, then the stored login's, then `DEFAULT_URL`. */
export async function gatewayUrl(opts: GlobalOptions, env: CliEnvironment, store: CredentialStore): Promise<string> {
  return opts.url ?? env.url ?? (await store.read())?.url ?? DEFAULT_URL;
}

/** The token or API key in the `--token-file` file, without the line end an editor or `echo` leaves. */
export async function readTokenFile(file: string): Promise<string> {
  const token = (await readInputFile(file)).trim();
  if (!token) throw new UsageError(`the token file ${file} is empty`);
  return token;
}

/** A client for the gateway in force, with `--token-file`'s token, then `TMON_TOKEN`, then the stored login if it is for that gateway and not expired. */
export async function connect(opts: GlobalOptions, env: CliEnvironment, store: CredentialStore, now = Date.now()): Promise<GatewayClient> {
  const url = await gatewayUrl(opts, env, store);
  const explicit = opts.tokenFile !== undefined ? await readTokenFile(opts.tokenFile) : env.token;
  if (explicit) return new GatewayClient(url, { token: explicit });
  return new GatewayClient(url, await storedCredential(url, store, now));
}

async function storedCredential(url: string, store: CredentialStore, now: number): Promise<Credential> {
  const login = await store.read();
  if (!login) return { missing: `not logged in to ${url}` };
  // A token is only good at the gateway that issued it; sending it elsewhere would leak it.
  if (sameOrigin(login.url, url) === false) return { missing: `the stored login is for ${login.url}, not ${url}` };
  if (Date.parse(login.expiresAt) <= now) return { missing: `the login of ${login.username} at ${login.url} expired at ${login.expiresAt}` };
  return { token: login.token };
}

function sameOrigin(a: string, b: string): boolean | undefined {
  try {
    return new URL(a).href.replace(/\/$/, '') === new URL(b).href.replace(/\/$/, '');
  } catch {
    // An unparsable URL is reported by the client when it is used.
    return undefined;
  }
}
