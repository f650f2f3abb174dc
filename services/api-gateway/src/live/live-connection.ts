import type { RawData, WebSocket } from 'ws';
import type { Sample } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import type { Principal } from '../auth/principal.ts';
import type { Revocation } from '../auth/revocations.ts';
import type { LiveAuthenticate } from './live-auth.ts';
import { CLOSE_CODES, encodeServerMessage, MAX_PATTERNS, parseClientMessage, type ServerMessage } from './live-protocol.ts';
import { MetricPatternSet } from './metric-pattern.ts';

/** Why the gateway ended a connection, the label of `tmon_gateway_ws_dropped_total`. */
export const DROP_REASONS = ['unauthorized', 'expired', 'revoked', 'over-cap', 'slow', 'unresponsive', 'flooding'] as const;
/** One reason a connection was dropped. */
export type DropReason = (typeof DROP_REASONS)[number];

/** Longest delay a Node timer takes; a later token expiry re-arms the timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Client messages waiting behind a slow authentication or subscription before the client counts as flooding. */
const MAX_QUEUED_MESSAGES = 32;
/** Checks of one credential in a row while revocations keep arriving during them; the last one stands. */
const MAX_AUTH_ROUNDS = 3;
/** `auth` messages with a new credential one connection may send a minute (a refreshed token is one every few minutes). */
const MAX_AUTHS_PER_MINUTE = 10;

/** What a connection needs from the stream that owns it. */
export interface LiveConnectionOptions {
  authenticate: LiveAuthenticate;
  logger: Logger;
  authTimeoutMs: number;
  maxBufferedBytes: number;
  /** Samples held between ticks before they are sent early, which bounds what one connection holds. */
  maxPendingSamples: number;
  /** How long a closing socket may take to answer the close frame before it is destroyed. */
  closeGraceMs: number;
  /** The connection's subscriptions changed; resolves once the bus delivers everything it now wants. */
  interestsChanged: () => Promise<void>;
  /** The connection stopped taking messages (called once); `reason` is set when the gateway dropped it. */
  ended: (reason?: DropReason) => void;
  /** Counts the connection for its (new) principal; false when that principal has its most connections already. */
  admit: (principal: Principal) => boolean;
  /** Grows with every revocation event the stream hears: a check that saw it change is made again. */
  revocationEpoch: () => number;
}

/** One client of the live stream: its authentication, subscriptions, pending samples and timers. */
export class LiveConnection {
  #principal: Principal | undefined;
  /** The credential the principal was found with, checked again on revocations. */
  #credential: string | undefined;
  readonly #patterns = new MetricPatternSet(MAX_PATTERNS);
  #alerts = false;
  #pending: string[] = [];
  #alive = true;
  #ended = false;
  #queued = 0;
  #recheckQueued = false;
  /** When this connection's recent `auth` messages with a new credential came. */
  #auths: number[] = [];
  #inbox: Promise<void> = Promise.resolve();
  #authTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #terminateTimer: NodeJS.Timeout | undefined;

  /**
   * `initial` is what the upgrade carried: a credential with its principal when it was checked already (undefined:
   * it is checked now, and refused with 4401), or none, when the first message must authenticate.
   */
  constructor(
    private readonly socket: WebSocket,
    initial: { credential: string; principal: Principal | undefined } | undefined,
    private readonly options: LiveConnectionOptions,
  ) {
    socket.on('message', (data, isBinary) => this.#receive(data, isBinary));
    socket.on('pong', () => void (this.#alive = true));
    socket.on('error', (err) => options.logger.debug('live socket error', { error: err.message }));
    socket.on('close', () => {
      clearTimeout(this.#terminateTimer);
      this.#end();
    });
    this.#authTimer = setTimeout(() => this.#drop(CLOSE_CODES.unauthorized, 'authentication timed out', 'unauthorized'), options.authTimeoutMs);
    if (initial?.principal) {
      const { credential, principal } = initial;
      this.#enqueue(async () => this.#become(credential, principal));
    } else if (initial) {
      this.#enqueue(() => this.#authenticate(initial.credential));
    }
  }

  /** Who the connection is authenticated as, if it is. */
  get principal(): Principal | undefined {
    return this.#principal;
  }

  /** Whether a revocation may concern this connection's credential. */
  affectedBy(event: Revocation): boolean {
    const p = this.#principal;
    if (!p) return false;
    switch (event.kind) {
      case 'user':
        return p.kind === 'user' && p.subject === event.subject;
      case 'api-key':
        return p.kind === 'api-key' && p.id === event.keyId;
    }
  }

  /**
   * Checks the connection's credential again (after a revocation, or periodically) and closes it with 4401 when it
   * no longer authenticates; `authenticate` may be shared by the connections of one sweep. A store that does not
   * answer leaves the connection open: the next check decides.
   */
  recheck(authenticate: LiveAuthenticate = this.options.authenticate): void {
    // One waiting check is enough: it reads the state as it is when it runs (a store that hangs does not pile them up).
    if (this.#ended || !this.#credential || this.#recheckQueued) return;
    this.#recheckQueued = true;
    this.#enqueue(async () => {
      this.#recheckQueued = false;
      const credential = this.#credential;
      if (this.#ended || !credential) return;
      let principal: Principal | undefined;
      try {
        principal = await this.#check(credential, authenticate);
      } catch (err) {
        this.options.logger.warn('live stream cannot re-check a credential', { error: (err as Error).message, subject: this.#principal?.subject });
        return;
      }
      // A newer `auth` message may have replaced the credential meanwhile; its own check stands.
      if (this.#ended || credential !== this.#credential) return;
      if (!principal) return this.#drop(CLOSE_CODES.unauthorized, 'credentials revoked or no longer valid', 'revoked');
      this.#principal = principal;
    });
  }

  /** Whether samples should be offered to this connection. */
  get wantsSamples(): boolean {
    return !this.#ended && this.#principal !== undefined && this.#patterns.size > 0;
  }

  /** Whether alert events and dashboard notifications should be sent to this connection. */
  get wantsAlerts(): boolean {
    return !this.#ended && this.#principal !== undefined && this.#alerts;
  }

  /** Keeps the samples whose names match the connection's patterns for the next flush; `encoded[i]` is `samples[i]` as JSON. */
  offerSamples(samples: readonly Sample[], encoded: readonly string[]): void {
    if (!this.wantsSamples) return;
    for (let i = 0; i < samples.length; i++) if (this.#patterns.matches(samples[i]!.name)) this.#pending.push(encoded[i]!);
    if (this.#pending.length >= this.options.maxPendingSamples) this.flush();
  }

  /** Sends a frame encoded once for every subscriber (an alert or notification) right away. */
  sendFrame(frame: string): void {
    this.#send(frame);
  }

  /** Sends the samples kept since the last flush as one `samples` frame. */
  flush(): void {
    if (!this.#pending.length) return;
    const frame = `{"type":"samples","samples":[${this.#pending.join(',')}]}`;
    this.#pending = [];
    this.#send(frame);
  }

  /** Pings the client, or terminates it when it did not answer the previous ping. */
  heartbeat(): void {
    if (this.#ended) return;
    if (!this.#alive) {
      this.#end('unresponsive');
      this.socket.terminate();
      return;
    }
    this.#alive = false;
    this.socket.ping();
  }

  /** Closes the connection with `code`, destroying the socket if the client does not answer in time. */
  close(code: number, reason: string): void {
    this.#drop(code, reason);
  }

  #send(frame: string): void {
    if (this.#ended) return;
    // Checked before each send: a client that does not read is cut off, never buffered for.
    if (this.socket.bufferedAmount > this.options.maxBufferedBytes) {
      this.#drop(CLOSE_CODES.tooSlow, 'too slow', 'slow');
      return;
    }
    this.socket.send(frame);
  }

  #reply(message: ServerMessage): void {
    this.#send(encodeServerMessage(message));
  }

  #receive(data: RawData, isBinary: boolean): void {
    if (this.#ended) return;
    if (++this.#queued > MAX_QUEUED_MESSAGES) {
      this.#drop(CLOSE_CODES.policyViolation, 'too many messages in flight', 'flooding');
      return;
    }
    // ws hands text frames over as one Buffer (binaryType 'nodebuffer'); binary frames are not part of the protocol.
    const text = isBinary ? undefined : (data as Buffer).toString('utf8');
    this.#enqueue(async () => {
      this.#queued--;
      await this.#handle(text);
    });
  }

  // Messages are handled one at a time, in order, so a subscribe sent right after a `bearer.` upgrade waits for its authentication.
  #enqueue(task: () => Promise<void>): void {
    this.#inbox = this.#inbox.then(task).catch((err: unknown) => {
      this.options.logger.warn('live stream message failed', { error: (err as Error).message, subject: this.#principal?.subject });
      this.#drop(CLOSE_CODES.internalError, 'internal error, reconnect later');
    });
  }

  async #handle(text: string | undefined): Promise<void> {
    if (this.#ended) return;
    const parsed = text === undefined ? ({ ok: false, error: 'messages are JSON text frames' } as const) : parseClientMessage(text);
    if (!this.#principal && !(parsed.ok && parsed.message.type === 'auth')) {
      this.#drop(CLOSE_CODES.unauthorized, 'first message must be {"type":"auth","token":"…"}', 'unauthorized');
      return;
    }
    if (!parsed.ok) return this.#reply({ type: 'error', error: parsed.error });
    const message = parsed.message;
    switch (message.type) {
      case 'auth':
        // The credential in force again: nothing to check (a client that re-sends it on a timer cost a PostgreSQL
        // query each time). Others are counted: each is a check against PostgreSQL and Redis.
        if (message.token === this.#credential && this.#principal) return this.#reply(this.#ready(this.#principal));
        if (this.#authsInWindow() > MAX_AUTHS_PER_MINUTE) return this.#drop(CLOSE_CODES.policyViolation, `more than ${MAX_AUTHS_PER_MINUTE} sign-ins a minute`, 'flooding');
        return this.#authenticate(message.token);
      case 'subscribe':
        if (message.metrics && !this.#patterns.add(message.metrics)) return this.#reply({ type: 'error', error: `at most ${MAX_PATTERNS} patterns per connection` });
        if (message.alerts) this.#alerts = true;
        break;
      case 'unsubscribe':
        if (message.metrics) this.#patterns.remove(message.metrics);
        if (message.alerts) this.#alerts = false;
        break;
    }
    await this.options.interestsChanged();
    this.#reply({ type: 'subscribed', metrics: this.#patterns.list(), alerts: this.#alerts });
  }

  async #authenticate(credential: string): Promise<void> {
    let principal: Principal | undefined;
    try {
      principal = await this.#check(credential, this.options.authenticate);
    } catch (err) {
      this.options.logger.warn('live stream cannot authenticate', { error: (err as Error).message });
      this.#drop(CLOSE_CODES.internalError, 'authentication unavailable, reconnect later');
      return;
    }
    if (this.#ended) return;
    if (!principal) {
      this.#drop(CLOSE_CODES.unauthorized, 'invalid, expired or revoked credentials', 'unauthorized');
      return;
    }
    this.#become(credential, principal);
  }

  /**
   * Checks a credential; when a revocation event arrived during the check (which may have read the state before
   * it), checks again, so no connection starts on a credential revoked while it was being checked.
   */
  async #check(credential: string, authenticate: LiveAuthenticate): Promise<Principal | undefined> {
    let principal: Principal | undefined;
    for (let round = 0; round < MAX_AUTH_ROUNDS; round++) {
      const epoch = this.options.revocationEpoch();
      principal = await authenticate(credential);
      if (!principal || epoch === this.options.revocationEpoch()) break;
    }
    return principal;
  }

  /** Takes `principal` as the connection's: counted for it (or closed with 4429 over its cap), expiry armed, `ready` sent. */
  #become(credential: string, principal: Principal): void {
    if (this.#ended) return;
    if (!this.options.admit(principal)) {
      this.#drop(CLOSE_CODES.tooManyConnections, `too many live connections for ${principal.subject}`, 'over-cap');
      return;
    }
    // A later `auth` message replaces the principal, so a client can hand over a refreshed token without reconnecting.
    this.#principal = principal;
    this.#credential = credential;
    clearTimeout(this.#authTimer);
    this.#armExpiry(principal.expiresAt);
    this.#reply(this.#ready(principal));
  }

  #ready(principal: Principal): ServerMessage {
    return { type: 'ready', subject: principal.subject, role: principal.role, ...(principal.expiresAt ? { expiresAt: principal.expiresAt } : {}) };
  }

  /** Counts an `auth` message; returns how many came in the last minute. */
  #authsInWindow(now = Date.now()): number {
    this.#auths = this.#auths.filter((at) => at > now - 60_000);
    this.#auths.push(now);
    return this.#auths.length;
  }

  #armExpiry(expiresAt: number | undefined): void {
    clearTimeout(this.#expiryTimer);
    if (expiresAt === undefined) return;
    const ms = expiresAt * 1000 - Date.now();
    this.#expiryTimer = setTimeout(
      () => (ms > MAX_TIMER_MS ? this.#armExpiry(expiresAt) : this.#drop(CLOSE_CODES.unauthorized, 'token expired', 'expired')),
      Math.min(Math.max(ms, 0), MAX_TIMER_MS),
    );
  }

  #drop(code: number, reason: string, dropped?: DropReason): void {
    if (this.#ended) return;
    this.#end(dropped);
    this.socket.close(code, reason);
    // A client that does not read never answers the close frame; its buffered data must not outlive the grace period.
    this.#terminateTimer = setTimeout(() => this.socket.terminate(), this.options.closeGraceMs);
  }

  #end(dropped?: DropReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#pending = [];
    this.#credential = undefined;
    clearTimeout(this.#authTimer);
    clearTimeout(this.#expiryTimer);
    if (dropped) this.options.logger.info('live client dropped', { reason: dropped, subject: this.#principal?.subject });
    this.options.ended(dropped);
  }
}
