export { ConfigSchema, DurationSchema } from './schema.ts';
export type { Config } from './schema.ts';
export { loadConfig, loadConfigOrExit, ENV_VARIABLES, EXIT_CONFIG, FILE_VARIABLES } from './load-config.ts';
export type { LoadConfigOptions } from './load-config.ts';
export { ConfigError } from './errors.ts';
export type { ConfigProblem } from './errors.ts';
export { durationMs, prometheusDurationMs } from './durations.ts';
export { SERVICE_NAMES, SERVICE_NODE_FLAGS } from './service-names.ts';
export type { ServiceName } from './service-names.ts';
