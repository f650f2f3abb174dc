import { homedir } from 'node:os';
import { join } from 'node:path';

/** What `tmon` takes from its environment; read once, here, and passed down. */
export interface CliEnvironment {
  /** `TMON_URL`: the gateway's base URL. */
  url?: string;
  /** `TMON_TOKEN`: a bearer token or API key, instead of the stored login. */
  token?: string;
  /** Where the login is stored: `$XDG_CONFIG_HOME/tmon`, else `~/.config/tmon`. */
  configDir: string;
}

/** Reads the environment variables `tmon` knows. */
export function readEnvironment(env: NodeJS.ProcessEnv = process.env): CliEnvironment {
  const base = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config');
  return { ...(env.TMON_URL ? { url: env.TMON_URL } : {}), ...(env.TMON_TOKEN ? { token: env.TMON_TOKEN } : {}), configDir: join(base, 'tmon') };
}
