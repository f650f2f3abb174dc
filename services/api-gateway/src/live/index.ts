export {
  LiveStream,
  DEFAULT_TICK_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_PRINCIPAL,
  DEFAULT_RECHECK_MS,
} from './live-stream.ts';
export type { LiveStreamDeps } from './live-stream.ts';
export {
  LIVE_PATH,
  LIVE_SUBPROTOCOL,
  BEARER_SUBPROTOCOL_PREFIX,
  CLOSE_CODES,
  MAX_PATTERNS,
  ClientMessageSchema,
  AuthMessageSchema,
  SubscribeMessageSchema,
  UnsubscribeMessageSchema,
  parseClientMessage,
  encodeServerMessage,
} from './live-protocol.ts';
export type { ClientMessage, ServerMessage } from './live-protocol.ts';
export { DROP_REASONS } from './live-connection.ts';
export type { DropReason } from './live-connection.ts';
export { REFUSAL_REASONS } from './live-metrics.ts';
export type { RefusalReason } from './live-metrics.ts';
export { compileMetricPattern, isMetricPattern, MetricPatternSet, MAX_PATTERN_STARS } from './metric-pattern.ts';
