/** One problem with one setting, named by its path and where its value came from. */
export interface ConfigProblem {
  path: string;
  message: string;
  source: string;
}

/** Thrown once at start when any setting is invalid; its message lists every problem. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p.path}: ${p.message} (from ${p.source})`).join('\n')}`);
  }
}
