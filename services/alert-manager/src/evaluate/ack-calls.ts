import { CALLS, type Bus } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import type { AlertStateCommands } from './alert-state-commands.ts';

/**
 * Answers the gateway's acknowledge calls in the queue group `alert-manager`, so one replica answers each: an active
 * alert not acknowledged yet is acknowledged (its re-notification stops) and the act is audit-logged; an unknown or
 * ended alert, or one acknowledged already, is refused with a code the gateway maps to its answer.
 */
export function serveAckCalls(bus: Bus, state: AlertStateCommands, logger: Logger): ReturnType<Bus['serve']> {
  return bus.serve(
    CALLS.alertAck,
    async (req) => {
      const result = await state.ack(req.id, req.by, req.comment, Date.now());
      if (result === 'missing') return { error: `no active alert ${req.id}`, code: 'missing-alert' };
      if (result === 'already') return { error: `alert ${req.id} is already acknowledged`, code: 'already-acknowledged' };
      logger.info('alert acknowledged', { audit: true, alert: req.id, by: req.by });
      return { ok: true as const, state: result };
    },
    'alert-manager',
    (err) => logger.error('acknowledge call failed', { err }),
  );
}
