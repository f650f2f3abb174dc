import { JSONCodec, type JetStreamClient, type JsMsg, type NatsConnection, type Subscription } from 'nats';
import type { z } from 'zod';
import { describeIssues, InvalidMessageError } from './errors.ts';
import { Namespace } from './namespace.ts';
import { CONSUMERS, type ConsumerName, type SubjectDef } from './subjects.ts';
import type { CallDef } from './calls.ts';

const json = JSONCodec();

/** Result of decoding a message against its subject's schema. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: InvalidMessageError };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDef = SubjectDef<z.ZodType, any[]>;
type Params<D> = D extends SubjectDef<z.ZodType, infer P> ? P : never;
type Payload<D> = D extends SubjectDef<infer S, string[]> ? z.infer<S> : never;

/** Room left in a message for the headers JetStream adds to a publish (Nats-Msg-Id and the like). */
const HEADER_ROOM = 4096;

/** A payload in its subject's wire form. */
function encode<D extends AnyDef>(def: D, payload: Payload<D>): Uint8Array {
  return def.codec ? def.codec.encode(payload) : json.encode(payload);
}

/** Typed access to the suite's subjects on one NATS connection, inside one namespace. */
export class Bus {
  readonly ns: Namespace;
  readonly js: JetStreamClient;

  constructor(
    readonly nc: NatsConnection,
    prefix: string,
  ) {
    this.ns = new Namespace(prefix);
    this.js = nc.jetstream();
  }

  /** Most bytes of a body that one message of this server carries, with room left for the headers JetStream adds. */
  get maxBodyBytes(): number {
    return (this.nc.info?.max_payload ?? 1024 * 1024) - HEADER_ROOM;
  }

  /** Absolute subject of one member of a subject family. */
  subject<D extends AnyDef>(def: D, ...params: Params<D>): string {
    return this.ns.subject(def.build(...params));
  }

  /** Parses and validates a payload against a subject's schema. */
  decode<D extends AnyDef>(def: D, subject: string, data: Uint8Array): Decoded<Payload<D>> {
    if (def.codec?.recognizes(data)) {
      try {
        return { ok: true, value: def.codec.decode(data) as Payload<D> };
      } catch (err) {
        const { field = '(message)', reason = (err as Error).message } = err as { field?: string; reason?: string };
        return { ok: false, error: new InvalidMessageError(subject, [{ field, reason }]) };
      }
    }
    let parsed: unknown;
    try {
      parsed = json.decode(data);
    } catch (err) {
      return { ok: false, error: new InvalidMessageError(subject, [{ field: '(message)', reason: `malformed JSON: ${(err as Error).message}` }]) };
    }
    const result = def.schema.safeParse(parsed);
    return result.success
      ? { ok: true, value: result.data as Payload<D> }
      : { ok: false, error: new InvalidMessageError(subject, describeIssues(result.error)) };
  }

  /** Core publish (fire and forget). */
  publish<D extends AnyDef>(def: D, params: Params<D>, payload: Payload<D>): void {
    this.nc.publish(this.subject(def, ...params), encode(def, payload));
  }

  /** JetStream publish that resolves once the stream has stored the message; `msgID` makes a retry a no-op. */
  async persist<D extends AnyDef>(def: D, params: Params<D>, payload: Payload<D>, msgID?: string): Promise<void> {
    await this.js.publish(this.subject(def, ...params), encode(def, payload), msgID ? { msgID } : undefined);
  }

  /** JetStream publish of a body already encoded from the subject's type (see `sampleBatchBodies`). */
  async persistEncoded<D extends AnyDef>(def: D, params: Params<D>, body: Uint8Array, msgID?: string): Promise<void> {
    await this.js.publish(this.subject(def, ...params), body, msgID ? { msgID } : undefined);
  }

  /** Request/reply with the reply validated against the subject's schema. */
  async request<D extends AnyDef>(def: D, params: Params<D>, payload: unknown, timeoutMs: number): Promise<Payload<D>> {
    const subject = this.subject(def, ...params);
    const reply = await this.nc.request(subject, json.encode(payload), { timeout: timeoutMs });
    const decoded = this.decode(def, subject, reply.data);
    if (!decoded.ok) throw decoded.error;
    return decoded.value;
  }

  /** Calls a service and validates its reply; rejects on timeout or when no replica answers. */
  async call<Req extends z.ZodType, Rep extends z.ZodType>(def: CallDef<Req, Rep>, payload: z.input<Req>, timeoutMs: number): Promise<z.infer<Rep>> {
    const subject = this.ns.subject(def.subject);
    const reply = await this.nc.request(subject, json.encode(payload), { timeout: timeoutMs });
    const result = def.reply.safeParse(json.decode(reply.data));
    if (!result.success) throw new InvalidMessageError(subject, describeIssues(result.error));
    return result.data;
  }

  /**
   * Answers a call in a queue group, so each request is handled by one replica; a bad request gets an error reply. A
   * handler's refusal (an error whose `code` is a kebab-case word such as `missing-backup`) is answered with its
   * message; any other failure with a generic one, handed to `onFailure` to log: its message (a path, SQL) stays there.
   */
  serve<Req extends z.ZodType, Rep extends z.ZodType>(
    def: CallDef<Req, Rep>,
    handler: (request: z.infer<Req>) => Promise<z.infer<Rep>>,
    queue: string,
    onFailure: (err: unknown) => void = () => undefined,
  ): Subscription {
    const subject = this.ns.subject(def.subject);
    return this.nc.subscribe(subject, {
      queue,
      callback: (err, msg) => {
        if (err) return;
        let parsed: unknown;
        try {
          parsed = json.decode(msg.data);
        } catch {
          msg.respond(json.encode({ error: 'malformed JSON request', code: 'bad-request' }));
          return;
        }
        const request = def.request.safeParse(parsed);
        if (!request.success) {
          msg.respond(json.encode({ error: new InvalidMessageError(subject, describeIssues(request.error)).message, code: 'bad-request' }));
          return;
        }
        handler(request.data).then(
          (reply) => msg.respond(json.encode(reply)),
          (e: unknown) => {
            const code = (e as { code?: unknown }).code;
            if (typeof code === 'string' && /^[a-z]+(-[a-z]+)+$/.test(code)) return msg.respond(json.encode({ error: (e as Error).message, code }));
            onFailure(e);
            msg.respond(json.encode({ error: `the ${queue} service failed to answer; its log says why`, code: 'failed' }));
          },
        );
      },
    });
  }

  /** Core subscription; invalid messages go to `onInvalid` instead of the handler. */
  subscribe<D extends AnyDef>(
    def: D,
    handler: (value: Payload<D>, subject: string) => void,
    onInvalid: (error: InvalidMessageError) => void,
    queue?: string,
  ): Subscription {
    return this.nc.subscribe(this.ns.subject(def.filter), {
      ...(queue ? { queue } : {}),
      callback: (err, msg) => {
        if (err) return;
        const decoded = this.decode(def, msg.subject, msg.data);
        if (decoded.ok) handler(decoded.value, msg.subject);
        else onInvalid(decoded.error);
      },
    });
  }

  /** The stream and subject filter a durable consumer reads. */
  consumerTarget(name: ConsumerName): { stream: string; filter: string } {
    const def = CONSUMERS[name];
    return { stream: this.ns.stream(def.stream), filter: this.ns.subject(def.filter) };
  }
}

/** A message of a JetStream batch. */
export type { JsMsg };
