export { runService, SERVICE_OPS_PORTS } from './run-service.ts';
export type { ServiceContext, ServiceDefinition, ServiceName, RunOptions, RunningService } from './run-service.ts';
export { createLogger } from './logger.ts';
export type { Logger } from './logger.ts';
export { Health } from './health.ts';
export type { HealthCheck } from './health.ts';
export { createRegistry } from './metrics.ts';
export { discoverInstances } from './discovery.ts';
export type { DiscoveredInstance, InstanceMetadata } from './discovery.ts';
