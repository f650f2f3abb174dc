import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import { z } from 'zod';
import { MatchersSchema, matchesAll, RECORDING_RULE_NAME, RuleSchema, SEVERITIES, type PgAlertStore, type RedisAlertReader } from '@terminusa/alerting';
import { ACTIVE_ALERT_STATES, CALLS, storableText, SUBJECTS, TAG_KEY, type Bus } from '@terminusa/bus';
import type { ServiceCaller } from '../http/call-service.ts';
import { sendProblem } from '../http/problem.ts';
import { route, type RouteSpec } from '../http/route.ts';
import { parseOr400 } from '../http/request-errors.ts';
import { BodyTime, TimeParam as Time } from './metrics-routes.ts';

const DAY_MS = 86_400_000;
const ActiveQuery = z.looseObject({ severity: z.enum(SEVERITIES).optional(), state: z.enum(ACTIVE_ALERT_STATES).optional() });
const HistoryQuery = z.object({
  from: Time.optional(),
  to: Time.optional(),
  severity: z.enum(SEVERITIES).optional(),
  rule: storableText(200, 'rule names').optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  /** The `next` cursor of the previous page. */
  before: z
    .string()
    .regex(/^\d{1,16}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'a cursor from a previous page')
    .transform((cursor) => ({ at: Number(cursor.split('_')[0]), id: cursor.split('_')[1]! }))
    .refine((c) => c.at <= 8.64e15, 'a cursor from a previous page')
    .optional(),
});
const AlertId = z.object({ id: z.string().uuid('an alert id') });
const AckBody = z.strictObject({ comment: storableText(2000, 'comments').optional() });
// An alerting rule's name or a recording rule's (a metric name, `job:requests:rate5m`), as RuleSchema takes them.
const RuleName = z.object({ name: z.string().regex(RECORDING_RULE_NAME, 'a rule name') });
const SilenceBody = z
  .strictObject({
    // As Alertmanager: one matcher at least must need a label to be there (`host="a"`), or the silence matches every
    // alert (`alertname=~".*"`, `nope=""`: a missing label is the empty value), and paging stops unseen.
    // At most MAX_MATCHERS, as a rule's: each regex is compiled when the silence is saved.
    matchers: MatchersSchema.min(1, 'at least one matcher')
      .refine((matchers) => matchers.some((m) => !matchesAll([m], {})), 'at least one matcher must not match the empty value: this silence would silence every alert'),
    // Numbers too: `tmon silences add --end` sends epoch ms, which a string-only time refused.
    startsAt: BodyTime.optional(),
    endsAt: BodyTime.optional(),
    /** Seconds from the start, instead of endsAt. */
    duration: z.number().int().positive().max(90 * 86_400).optional(),
    comment: storableText(2000, 'comments').min(1, 'say why'),
  })
  .refine((s) => s.endsAt !== undefined || s.duration !== undefined, { message: 'give endsAt or duration', path: ['endsAt'] })
  // As long as `duration` may be: a silence that never ends is a rule switched off unseen.
  .refine((s) => s.endsAt === undefined || s.endsAt - (s.startsAt ?? Date.now()) <= 90 * DAY_MS, { message: 'at most 90 days after the start', path: ['endsAt'] });
const SilenceId = z.object({ id: z.string().uuid('a silence id') });

/** The `label.<name>` parameters, as given: a label asked twice (an array) is the filter's schema to refuse, not left out. */
function labelQuery(req: Request): Record<string, unknown> {
  const labels: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(req.query)) if (k.startsWith('label.')) labels[k.slice(6)] = v;
  return labels;
}

/** The seed's alert endpoints plus rules and silences: reads for every role, changes for operators. */
export function alertRoutes(deps: { bus: Bus; reader: RedisAlertReader; store: PgAlertStore; calls: ServiceCaller }): RouteSpec[] {
  const changed = (what: 'rules' | 'silences', by: string) => deps.bus.publish(SUBJECTS.alertConfigChanged, [], { what, by });
  const saveRule = async (input: unknown, res: Parameters<RouteSpec['handle']>[0]['res'], by: string) => {
    const rule = parseOr400(RuleSchema, input, res, 'rule');
    if (!rule) return;
    const outcome = await deps.store.saveRule(rule, input, by);
    if (outcome === 'file-rule') return sendProblem(res, 409, `rule ${rule.name} is defined in the rules file; change it there`);
    changed('rules', by);
    res.status(outcome === 'created' ? 201 : 200).json({ rule });
  };
  return [
    route({
      method: 'get',
      path: '/alerts/active',
      access: 'viewer',
      tag: 'alerts',
      summary: 'Active (pending and firing) alerts; filter by severity, state and label.<name>=<value>',
      query: ActiveQuery,
      async handle({ query, req, res }) {
        const labels = parseOr400(z.record(z.string().regex(TAG_KEY), z.string()), labelQuery(req), res, 'label filter');
        if (!labels) return;
        const alerts = (await deps.reader.active()).filter(
          (a) => (!query.severity || a.severity === query.severity) && (!query.state || a.state === query.state) && Object.entries(labels).every(([k, v]) => a.labels[k] === v),
        );
        res.json({ alerts });
      },
    }),
    route({
      method: 'get',
      path: '/alerts/history',
      access: 'viewer',
      tag: 'alerts',
      summary: 'Alerts with their events, newest first, one page at a time (`next` is the cursor of the next page)',
      query: HistoryQuery,
      async handle({ query, res }) {
        const to = query.to ?? Date.now();
        const before = query.before;
        const { alerts } = await deps.store.history({ from: query.from ?? to - DAY_MS, to, limit: query.limit, ...(query.severity ? { severity: query.severity } : {}), ...(query.rule ? { rule: query.rule } : {}), ...(before ? { before } : {}) });
        const last = alerts.at(-1);
        res.json({ alerts, next: alerts.length === query.limit && last ? `${last.startsAt}_${last.id}` : null });
      },
    }),
    route({
      method: 'post',
      path: '/alerts/:id/ack',
      access: 'operator',
      tag: 'alerts',
      summary: 'Acknowledge an active alert: its re-notification stops',
      audit: 'alert-ack',
      params: AlertId,
      body: AckBody,
      responses: { 200: 'acknowledged', 404: 'not active', 422: 'already acknowledged' },
      handle: ({ params, body, res, principal }) => deps.calls.answer(res, 'alert-manager', CALLS.alertAck, { id: params.id, by: principal!.subject, ...(body.comment ? { comment: body.comment } : {}) }),
    }),
    route({ method: 'get', path: '/rules', access: 'viewer', tag: 'rules', summary: 'Every rule, from the file and the API', handle: async ({ res }) => void res.json({ rules: await deps.store.rules() }) }),
    route({
      method: 'post',
      path: '/rules',
      access: 'operator',
      tag: 'rules',
      summary: 'Create or replace an API rule',
      audit: 'rule-save',
      body: z.unknown(),
      responses: { 201: 'created', 200: 'replaced', 409: 'a file rule has this name' },
      handle: ({ body, res, principal }) => saveRule(body, res, principal!.subject),
    }),
    route({
      method: 'put',
      path: '/rules/:name',
      access: 'operator',
      tag: 'rules',
      summary: 'Create or replace the API rule of this name',
      audit: 'rule-save',
      params: RuleName,
      body: z.record(z.string(), z.unknown()),
      responses: { 201: 'created', 200: 'replaced', 409: 'a file rule has this name' },
      handle: ({ params, body, res, principal }) => saveRule({ ...body, name: params.name }, res, principal!.subject),
    }),
    route({
      method: 'delete',
      path: '/rules/:name',
      access: 'operator',
      tag: 'rules',
      summary: 'Delete an API rule',
      audit: 'rule-delete',
      params: RuleName,
      responses: { 204: 'deleted', 404: 'no such rule', 409: 'a file rule' },
      async handle({ params, res, principal }) {
        const outcome = await deps.store.deleteRule(params.name);
        if (outcome === 'missing') return sendProblem(res, 404, `no rule ${params.name}`);
        if (outcome === 'file-rule') return sendProblem(res, 409, `rule ${params.name} is defined in the rules file; change it there`);
        changed('rules', principal!.subject);
        res.status(204).end();
      },
    }),
    route({ method: 'get', path: '/silences', access: 'viewer', tag: 'silences', summary: 'Silences that have not ended', handle: async ({ res }) => void res.json({ silences: await deps.store.silences() }) }),
    route({
      method: 'post',
      path: '/silences',
      access: 'operator',
      tag: 'silences',
      summary: 'Silence alerts matching all matchers between start and end',
      audit: 'silence-create',
      body: SilenceBody,
      responses: { 201: 'created' },
      async handle({ body, res, principal }) {
        const startsAt = body.startsAt ?? Date.now();
        const endsAt = body.endsAt ?? startsAt + body.duration! * 1000;
        if (endsAt <= startsAt) return sendProblem(res, 400, 'endsAt must be after startsAt', { fields: [{ field: 'endsAt', reason: 'must be after startsAt' }] });
        const silence = { id: randomUUID(), matchers: body.matchers, startsAt, endsAt, comment: body.comment, createdBy: principal!.subject };
        await deps.store.addSilence(silence);
        changed('silences', principal!.subject);
        const silenced = (await deps.reader.active()).filter((a) => matchesAll(silence.matchers, a.labels)).map((a) => a.id);
        res.status(201).json({ silence, matchesActive: silenced });
      },
    }),
    route({
      method: 'delete',
      path: '/silences/:id',
      access: 'operator',
      tag: 'silences',
      summary: 'Expire a silence now',
      audit: 'silence-expire',
      params: SilenceId,
      responses: { 204: 'expired', 404: 'no such active silence' },
      async handle({ params, res, principal }) {
        if (!(await deps.store.expireSilence(params.id))) return sendProblem(res, 404, `no active silence ${params.id}`);
        changed('silences', principal!.subject);
        res.status(204).end();
      },
    }),
  ];
}
