import type { DeliveryContext, NotifyStage } from './notify-stage.ts';

/** Which deliveries were made already: queued, sent, or given up on (the delivery queue's jobs, kept a day and a week). */
export interface DeliveryLog {
  has(deliveryId: string): Promise<boolean>;
}

/**
 * Stops a delivery that was made already (alertmanager's DedupStage): an outbox entry replayed after a crash, or a
 * group flushed again, asks for deliveries whose ids it had asked for before. Two replicas racing past this check
 * still queue one delivery, since the queue takes each id once.
 */
export function dedupStage(log: DeliveryLog): NotifyStage<DeliveryContext> {
  return async (ctx) => {
    if (await log.has(ctx.id)) ctx.stoppedBy = 'duplicate';
  };
}
