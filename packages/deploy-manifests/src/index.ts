export {
  buildManifests,
  secretGrants,
  BACKUP_KEYS_DIR,
  BACKUP_SIGNING_DIR,
  BACKUP_SIGNING_SECRET_NAME,
  CONFIG_MAP_NAME,
  DATABASE_ROLE,
  DATABASE_SECRET_NAME,
  DATABASE_USERS,
  databasePasswordKey,
  databaseRole,
  GATEWAY_SECRET_NAME,
  METRICS_SECRET_NAME,
  COLLECTOR_HOST,
  COLLECTOR_MODE_JOBS,
  COLLECTOR_MODE_SYSTEM,
  COLLECTOR_NODE_NAME,
  COLLECTOR_NODE_OPS_PORT,
  GATEWAY_TRUST_PROXY,
  INGRESS_TLS_SECRET_NAME,
  NATS_BOOTSTRAP_COMMAND,
  DB_MIGRATE_COMMAND,
  NATS_CONFIG_MAP_NAME,
  NATS_SECRET_NAME,
  NO_MIGRATE,
  OWN_DATABASE_ROLES,
  REDIS_SECRET_NAME,
  REDIS_USERS,
  SECRET_PLACEHOLDER,
} from './manifests.ts';
export type { Manifest, ManifestFile, SecretGrant } from './manifests.ts';
export { overlays, scalingFromConfig, defaultConfig, suiteVersion, OPS_PORTS } from './overlays.ts';
export type { Overlay, Autoscaling, ResourceSettings, TimeSeriesEngine, SingleNodeEngine, ClusterEngine } from './overlays.ts';
export {
  ENGINE_CREDENTIALS,
  ENGINE_SECRET_NAME,
  ENGINE_SNAPSHOT_TAKERS,
  VM_IMAGE,
  VM_PORT,
  VM_SINGLE_NODE_ARGS,
  engineScript,
  VM_STORAGE_PATH,
  VM_VERSION,
  VM_WRITER,
  vmEnv,
  vmReadUrl,
  vmWriteUrl,
} from './victoria-metrics.ts';
export { ENGINE_CLIENTS, GATE_IMAGE, GATE_NAME, GATE_PORT, GATE_URL, GATE_USERS, engineEnv, engineGrants, gateConfig, gateScript, gateUserOf, gateUsers } from './engine-gate.ts';
export type { GateUser } from './engine-gate.ts';
export { renderAll, writeAll, overlayDir, K8S_DIR, NATS_CONFIG_FILE, NATS_PERMISSIONS_FILE, REDIS_ACL_FILE, GATE_CONFIG_FILE, writeGateConfig, writeNatsPermissions, writeRedisAclRules } from './render.ts';
export { REDIS_NEEDS, redisAclRules, redisPasswordKey, redisPasswordSecret, renderRedisAclRules } from './redis-acl.ts';
export type { RedisNeeds } from './redis-acl.ts';
export {
  NATS_CLUSTER_ADVERTISE_VARIABLE,
  NATS_CLUSTER_CONFIG,
  NATS_CLUSTER_NAME,
  NATS_CLUSTER_PORT,
  NATS_CONFIG_DIR,
  NATS_NEEDS,
  NATS_ROUTE_PASSWORD_VARIABLE,
  NATS_ROUTE_USER,
  NATS_SERVER_NAME_VARIABLE,
  NATS_TLS_DIR,
  NATS_USERS,
  RESERVED_PRODUCER_NAMES,
  bootstrapPermissions,
  inboxSubscription,
  natsPermissions,
  producerPermissions,
  natsPasswordVariable,
  natsRouteUrlVariable,
  renderNatsClusterConfig,
  renderNatsPermissions,
  renderNatsServerConfig,
  shippedProducers,
} from './nats-permissions.ts';
export type { NatsNeeds, NatsPermissions, NatsServerTls } from './nats-permissions.ts';
export { PRODUCERS_FILE, newProducerKey, producerNameProblem, readProducers, writeProducers } from './producers.ts';
export type { Producer } from './producers.ts';
export { applyProducerCommand } from './nats-producer.ts';
export type { ProducerCommand } from './nats-producer.ts';
