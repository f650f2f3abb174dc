/*
 * Alert state changes run as Lua scripts inside Redis, so each one is atomic: two replicas (or a replica
 * restarted after SIGKILL) evaluating the same rule and group can never both make the same transition, and
 * every transition is appended to the outbox stream in the same step, so none is lost or doubled.
 * (The alternative, a deterministic owner per series, needs membership and hand-over between replicas.)
 *
 * The scripts are the .lua files beside this module, read once at startup; scripts/build.mjs copies them beside
 * the service's bundle, where this module's URL is the bundle's.
 */
import { readFileSync } from 'node:fs';

const lua = (file: string) => readFileSync(new URL(`./${file}`, import.meta.url), 'utf8');

/** The functions every state script shares: load, step, transition (with its outbox entry) and finish. */
const TRANSITION = lua('alert-transition.lua');

/** Evaluates one rule for one series or group with the samples of a batch (alert-evaluate.lua). */
export const EVALUATE_SCRIPT = `${TRANSITION}\n${lua('alert-evaluate.lua')}`;

/** Applies one evaluation of an engine-decided condition (a PromQL rule) to a group (alert-condition.lua). */
export const CONDITION_SCRIPT = `${TRANSITION}\n${lua('alert-condition.lua')}`;

/** Runs the timers of one state key that are due: for, keep_firing_for, no-data, re-notification (alert-sweep.lua). */
export const SWEEP_SCRIPT = `${TRANSITION}\n${lua('alert-sweep.lua')}`;

/** Acknowledges an active alert, which stops its re-notification (alert-ack.lua). */
export const ACK_SCRIPT = `${TRANSITION}\n${lua('alert-ack.lua')}`;

/** Makes a firing, unacknowledged alert's re-notification due now, when what stopped it lifted (alert-notify-now.lua). */
export const NOTIFY_NOW_SCRIPT = lua('alert-notify-now.lua');

/** Records the channels a firing alert was sent to, so its resolution goes to the same ones (alert-mark-notified.lua). */
export const MARK_NOTIFIED_SCRIPT = lua('alert-mark-notified.lua');
