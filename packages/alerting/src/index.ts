export { RuleSchema, ThresholdRuleSchema, NoDataRuleSchema, PromqlRuleSchema, RecordingRuleSchema, MatcherSchema, MatchersSchema, MAX_MATCHERS, RulesFileSchema, RECORDING_RULE_NAME } from './rule-schema.ts';
export type { Rule, RuleInput, Matcher, StreamRule, PromqlRule, AlertRule } from './rule-schema.ts';
export { MAX_PROMQL_LENGTH, promqlSyntaxError } from './promql-syntax.ts';
export { prometheusDuration } from './prometheus-rule-groups.ts';
export { parseRulesFile, parseRulesFileEntries, RulesFileError } from './parse-rules-file.ts';
export type { RuleProblem } from './parse-rules-file.ts';
// The alert vocabulary is the bus's (alert-vocabulary.ts, schemas.ts); the alert-manager and the gateway take it from here with the rest of the alert API.
export { SEVERITIES, CHANNELS, ALERT_STATES } from '@terminusa/bus';
export type { Alert, AlertState, Severity, ChannelName, Notification } from '@terminusa/bus';
export { renderTemplate } from './render-template.ts';
export { matchesAll } from './match-labels.ts';
export { compileLabelRegex, labelRegexProblem, LabelRegexError, MAX_LABEL_REGEX_LENGTH } from './label-regex.ts';
export type { LabelRegex } from './label-regex.ts';
export { alertKeys, alertFromState, RedisAlertReader } from './redis-alert-state.ts';
export { PgAlertStore } from './pg-alert-store.ts';
export type { AlertHistoryEvent, Silence } from './pg-alert-store.ts';
