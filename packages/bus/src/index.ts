export { Bus } from './bus.ts';
export { persistSamples, SampleTooLargeError, type MessageLimits } from './persist-samples.ts';
export type { Decoded, JsMsg } from './bus.ts';
export { Namespace } from './namespace.ts';
export { SUBJECTS, STREAMS, CONSUMERS } from './subjects.ts';
export type { SubjectDef, BodyCodec, StreamName, ConsumerName } from './subjects.ts';
export {
  IngestSampleSchema,
  IngestMessageSchema,
  SampleSchema,
  SampleBatchSchema,
  SamplePartSchema,
  samplesOf,
  STALE_MARKER,
  isStaleMarker,
  DeadLetterSchema,
  RejectionSchema,
  HealthReportSchema,
  AlertSchema,
  AlertTransitionSchema,
  NotificationSchema,
  AlertConfigChangedSchema,
  TagsSchema,
  GameEventSchema,
  METRIC_NAME,
  TAG_KEY,
  TAG_KEY_RULE,
  MAX_TAG_KEY_LENGTH,
  tagKeySchema,
  TAG_VALUE_FORBIDDEN,
  tagValueSchema,
  storableText,
  NAMESPACE_LABEL,
  SOURCE,
} from './schemas.ts';
export type { IngestSample, Sample, SampleBatch, SamplePart, DeadLetter, Rejection, HealthReport, Alert, AlertTransition, Notification, GameEvent } from './schemas.ts';
export { SEVERITIES, ALERT_STATES, ACTIVE_ALERT_STATES, CHANNELS, ALERT_TRANSITION_KINDS, ALERT_HISTORY_KINDS, HISTORY_KIND_OF_TRANSITION } from './alert-vocabulary.ts';
export type { Severity, AlertState, ChannelName, AlertTransitionKind, AlertHistoryKind } from './alert-vocabulary.ts';
export type { InFlightLimits } from './sample-batches.ts';
export { sampleBatchBodies, encodeSampleBatch, decodeSampleBatch, isPackedSampleBatch, sampleNameMarker, SampleBatchFormatError, TAGS_JSON } from './sample-batch-codec.ts';
export type { EncodablePart } from './sample-batch-codec.ts';
export { deadLetterOf, deadLetterSourceOf, SAMPLES_DEAD_LETTER_SOURCE, type Refusal } from './dead-letters.ts';
export { shortenedText } from './shortened-text.ts';
export { tagsRefused, type TagLimits } from './tag-limits.ts';
export { ensureStreams, ensureConsumer, consumerConfig, bindStreams, bindConsumer, isPermissionError } from './streams.ts';
export type { ConsumerOptions, BindOptions } from './streams.ts';
export { inboxPrefix } from './inbox.ts';
export { consumeBatches, MAX_IN_HAND_MS } from './batch-consumer.ts';
export { whenCaughtUp, type CatchUpOptions } from './caught-up.ts';
export type { BatchConsumer, BatchConsumerOptions, BatchHandler } from './batch-consumer.ts';
export { InvalidMessageError, describeIssues, fieldPath, issueReason } from './errors.ts';
export { CALLS, CallErrorSchema, BackupSummarySchema, ArchiveEntrySchema, ARCHIVE_TIERS } from './calls.ts';
export type { CallDef, BackupSummary, ArchiveEntry } from './calls.ts';
export { readDeadLetter, readDeadLetters, removeDeadLetter } from './dead-letter-reads.ts';
export type { DeadLetterPage, StoredDeadLetter } from './dead-letter-reads.ts';
