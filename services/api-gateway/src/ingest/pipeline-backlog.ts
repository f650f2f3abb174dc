import { CONSUMERS, type Bus } from '@terminusa/bus';

/** How long a reading of the processor's backlog is reused: one JetStream call a second at most, whatever the push rate. */
const READ_EVERY_MS = 1000;

/**
 * Whether the processor is behind: its INGEST consumer holds more than `limit` messages not yet handled
 * (pending plus in hand). A pushed request is then refused with 429 and Retry-After, and the sender (Prometheus,
 * an OTel collector) keeps it and retries, instead of the backlog growing without bound. Read lazily: only
 * while requests arrive, at most once a second; a backlog that cannot be read does not refuse anything.
 */
export class PipelineBacklog {
  private readAt = 0;
  private reading?: Promise<void>;
  private messages = 0;

  constructor(
    private readonly bus: Bus,
    private readonly limit: number,
  ) {}

  /** The backlog in messages when it is over the limit, else undefined. */
  async over(): Promise<number | undefined> {
    if (Date.now() - this.readAt >= READ_EVERY_MS) this.reading ??= this.read().finally(() => (this.reading = undefined));
    await this.reading;
    return this.messages > this.limit ? this.messages : undefined;
  }

  private async read(): Promise<void> {
    this.readAt = Date.now();
    try {
      const jsm = await this.bus.nc.jetstreamManager();
      const info = await jsm.consumers.info(this.bus.ns.stream(CONSUMERS.processor.stream), 'processor');
      this.messages = info.num_pending + info.num_ack_pending;
    } catch {
      this.messages = 0;
    }
  }
}
