/** The suite's services, as `services/<name>` names them, in the order their manifests are rendered. */
export const SERVICE_NAMES = ['collector', 'processor', 'storage', 'alert-manager', 'backup', 'api-gateway'] as const;
/** Name of one of the suite's services. */
export type ServiceName = (typeof SERVICE_NAMES)[number];

/**
 * The Node flags every service runs with, wherever it runs (deploy/Dockerfile and docker-compose.yml write them out,
 * and a test holds them to this list): young-generation room for the pipelines' short-lived batches, and `gc()` for
 * the rollups' heap relief between exports (metric-store's heap-relief.ts).
 */
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=32', '--expose-gc'] as const;
