import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Subscription } from 'nats';
import type { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import { SUBJECTS, isStaleMarker, samplesOf, type Bus, type InvalidMessageError, type Sample } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import { addressKey } from '../auth/login-guard.ts';
import type { Principal } from '../auth/principal.ts';
import type { Revocation } from '../auth/revocations.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { PgUserStore } from '../auth/user-store.ts';
import type { RateLimit } from '../http/rate-limit.ts';
import { credentialInUrl, liveAuthenticator, principalKey, upgradeCredential, type LiveAuthenticate } from './live-auth.ts';
import { LiveConnection } from './live-connection.ts';
import { liveMetrics, type LiveMetrics, type RefusalReason } from './live-metrics.ts';
import { CLOSE_CODES, encodeServerMessage, LIVE_PATH, LIVE_SUBPROTOCOL } from './live-protocol.ts';

/** Milliseconds between two `samples` frames to a client. */
export const DEFAULT_TICK_MS = 100;
/** Milliseconds between two pings; a client that has not answered the previous one is terminated. */
export const DEFAULT_HEARTBEAT_MS = 15_000;
/** Bytes a client may leave unread before it is dropped as too slow. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
/** Milliseconds a new connection has to authenticate. */
export const DEFAULT_AUTH_TIMEOUT_MS = 5_000;
/** Open connections one stream takes (gateway.live.maxConnections). */
export const DEFAULT_MAX_CONNECTIONS = 2_000;
/** Connections of one client address not authenticated yet (gateway.live.maxUnauthenticatedPerAddress). */
export const DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS = 10;
/** Open connections of one user or API key (gateway.live.maxConnectionsPerPrincipal). */
export const DEFAULT_MAX_CONNECTIONS_PER_PRINCIPAL = 20;
/** Milliseconds between two checks of every connection's credential (gateway.live.recheckInterval). */
export const DEFAULT_RECHECK_MS = 30_000;

/** Samples one connection holds between ticks before sending them early. */
const MAX_PENDING_SAMPLES = 10_000;
/** Milliseconds a closing client has to answer the close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 2_000;
/** Largest client frame; the largest valid message (100 patterns of 200 characters) is about 21 KB. */
const MAX_CLIENT_FRAME_BYTES = 64 * 1024;
/** Seconds a client refused for a full stream is asked to wait. */
const FULL_RETRY_AFTER_S = 5;

/** What the live stream reads from, and its settings. */
export interface LiveStreamDeps {
  bus: Bus;
  /** Verifies tokens, and carries the revocation events the stream listens to. */
  tokens: TokenService;
  users: PgUserStore;
  logger: Logger;
  /** Where `tmon_gateway_ws_clients`, `tmon_gateway_ws_dropped_total` and `tmon_gateway_ws_refused_total` are registered; none without it. */
  registry?: Registry;
  tickMs?: number;
  heartbeatMs?: number;
  maxBufferedBytes?: number;
  authTimeoutMs?: number;
  /** Open connections, authenticated or not, beyond which upgrades are answered 503. */
  maxConnections?: number;
  /** Open connections of one user or API key, beyond which its upgrades are answered 429 (or closed with 4429). */
  maxConnectionsPerPrincipal?: number;
  /** Connections from one client address that have not authenticated yet, beyond which its upgrades without a credential are answered 429. */
  maxUnauthenticatedPerAddress?: number;
  /** Milliseconds between two checks of every open connection's credential, behind the revocation events. */
  recheckMs?: number;
  /** The HTTP API's per-address request limit, which every upgrade counts against too (none without it). */
  addressLimit?: RateLimit;
  /** The client address of an upgrade as the HTTP API sees it (behind trusted proxies); the peer's address by default. */
  clientAddress?: (req: IncomingMessage) => string;
}

/**
 * The gateway's live stream at `GET /ws`: samples, alert events and dashboard notifications pushed over a WebSocket.
 *
 * Protocol (JSON text frames):
 * - Authentication: the first message is `{"type":"auth","token":"<JWT or tmk_ API key>"}`, within 5 s. A browser may
 *   instead offer the subprotocols `tmon.live.v1` and `bearer.<token>`. A credential in the URL (`?token=`) is refused
 *   with 400: URLs are written to proxy and access logs. The gateway answers
 *   `{"type":"ready","subject":…,"role":…,"expiresAt"?:…}`, or closes with 4401 and a reason.
 * - A connection lasts as long as its credential: it is closed with 4401 when the token expires (API keys do not),
 *   within a second when the token, its user's tokens (sign-out, new password, changed role, disabled user) or the
 *   API key are revoked on any replica (events on Redis pub/sub), and at the latest at the next periodic re-check
 *   (every 30 s) should an event be missed. Sending another `auth` with a fresh token before then keeps it.
 * - `{"type":"subscribe","metrics":["system_cpu_*","players_online"],"alerts":true}` adds metric patterns (`*` matches any
 *   run of characters; at most 100 per connection) and/or turns alerts on; `{"type":"unsubscribe",…}` removes patterns
 *   and/or (with `"alerts":true`) turns alerts off. Both are answered with `{"type":"subscribed","metrics":[…],"alerts":…}`
 *   once the new subscription is in effect; an invalid message gets `{"type":"error","error":"…"}` and the socket stays open.
 * - The gateway sends `{"type":"samples","samples":[{name,value,ts,tags}…]}` every tick (100 ms) with the samples whose
 *   names match, and `{"type":"alert","event":{kind,seq,at,alert}}` / `{"type":"notification","notification":…}` to
 *   clients that turned alerts on.
 * - Heartbeat: a ping every 15 s; a client that has not answered the previous ping is terminated.
 * - A client with more than 1 MiB unread when the gateway sends to it is closed with 4008 ("too slow") and destroyed
 *   2 s later; the gateway never buffers for it. Shutdown closes every client with 1001.
 * - Limits: every upgrade counts against the per-address request limit (429); at most 2,000 connections (503) and
 *   20 per user or API key (429 at the upgrade when the credential comes with it, else a close with 4429) per replica.
 *
 * One core NATS subscription per subject serves every client, opened while some client wants it (core subscriptions
 * also see what is published to JetStream, without any consumer state).
 */
export class LiveStream {
  readonly #bus: Bus;
  readonly #tokens: TokenService;
  readonly #logger: Logger;
  readonly #authenticate: LiveAuthenticate;
  readonly #metrics: LiveMetrics;
  readonly #settings: {
    tickMs: number;
    heartbeatMs: number;
    maxBufferedBytes: number;
    authTimeoutMs: number;
    maxConnections: number;
    maxConnectionsPerPrincipal: number;
    maxUnauthenticatedPerAddress: number;
    recheckMs: number;
  };
  readonly #addressLimit: RateLimit | undefined;
  readonly #clientAddress: (req: IncomingMessage) => string;
  readonly #wss: WebSocketServer;
  readonly #connections = new Map<WebSocket, LiveConnection>();
  /** The connections of each principal (principalKey), and the key each connection is counted under. */
  readonly #byPrincipal = new Map<string, Set<LiveConnection>>();
  readonly #principalOf = new Map<LiveConnection, string>();
  /** The connections of each client address (addressKey) not authenticated yet, and the address each is counted under. */
  readonly #unauthenticated = new Map<string, number>();
  readonly #addressOf = new Map<LiveConnection, string>();
  /** Upgrades admitted past the connection cap whose sockets are not connections yet. */
  #reserved = 0;
  /** Grows with every revocation event (see LiveConnection's checks). */
  #revocationEpoch = 0;
  #stopListening: Promise<() => Promise<void>> | undefined;
  #samples: Subscription | undefined;
  #alerts: Subscription[] = [];
  #registered: Promise<void> = Promise.resolve();
  #server: Server | undefined;
  #timers: NodeJS.Timeout[] = [];
  #closing: Promise<void> | undefined;

  constructor(deps: LiveStreamDeps) {
    this.#bus = deps.bus;
    this.#tokens = deps.tokens;
    this.#logger = deps.logger;
    this.#authenticate = liveAuthenticator(deps.tokens, deps.users);
    this.#metrics = liveMetrics(deps.registry, () => this.clients());
    this.#settings = {
      tickMs: deps.tickMs ?? DEFAULT_TICK_MS,
      heartbeatMs: deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
      maxBufferedBytes: deps.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
      authTimeoutMs: deps.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS,
      maxConnections: deps.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      maxConnectionsPerPrincipal: deps.maxConnectionsPerPrincipal ?? DEFAULT_MAX_CONNECTIONS_PER_PRINCIPAL,
      maxUnauthenticatedPerAddress: deps.maxUnauthenticatedPerAddress ?? DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS,
      recheckMs: deps.recheckMs ?? DEFAULT_RECHECK_MS,
    };
    this.#addressLimit = deps.addressLimit;
    this.#clientAddress = deps.clientAddress ?? ((req) => req.socket.remoteAddress ?? '');
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_CLIENT_FRAME_BYTES,
      perMessageDeflate: false,
      // Never echo the `bearer.<token>` protocol: the credential would come back in a response header.
      handleProtocols: (offered) => (offered.has(LIVE_SUBPROTOCOL) ? LIVE_SUBPROTOCOL : false),
    });
  }

  /**
   * Serves `GET /ws` upgrades of `server`, starts the tick, heartbeat and re-check timers, and listens to revocation
   * events; resolves once it does (a revocation announced later reaches it).
   */
  async attach(server: Server): Promise<void> {
    if (this.#server) throw new Error('the live stream is already attached to a server');
    this.#server = server;
    server.on('upgrade', this.#onUpgrade);
    this.#timers = [
      setInterval(() => {
        for (const connection of this.#connections.values()) connection.flush();
      }, this.#settings.tickMs),
      setInterval(() => {
        for (const connection of this.#connections.values()) connection.heartbeat();
      }, this.#settings.heartbeatMs),
      setInterval(() => this.#recheckAll(), this.#settings.recheckMs),
    ];
    this.#stopListening = this.#tokens.revocations.listen(
      {
        revoked: (event) => this.#revoked(event),
        // Events published while the subscription was down are lost: every connection is checked instead.
        missedSome: () => {
          this.#revocationEpoch++;
          this.#recheckAll();
        },
      },
      (error) => this.#logger.warn('live stream skipped an invalid revocation event', { error }),
    );
    await this.#stopListening;
  }

  /** Open connections, authenticated or not. */
  clients(): number {
    return this.#connections.size;
  }

  /** Stops taking connections, unsubscribes from NATS and closes every client with 1001; resolves when all sockets are gone. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#server?.off('upgrade', this.#onUpgrade);
    this.#samples?.unsubscribe();
    for (const sub of this.#alerts) sub.unsubscribe();
    this.#samples = undefined;
    this.#alerts = [];
    const stop = await this.#stopListening?.catch(() => undefined);
    const gone = [...this.#wss.clients].map((ws) => new Promise<void>((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once('close', () => resolve()))));
    for (const connection of [...this.#connections.values()]) connection.close(CLOSE_CODES.goingAway, 'server shutting down');
    await Promise.all([...gone, stop?.()]);
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  readonly #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Node takes an absolute-form target (`GET http://999.999.999.999/ws`) as the URL: unparsed, it would throw here,
    // in an event listener, and stop the gateway.
    const path = pathOf(req.url);
    if (path === undefined) return refuse(socket, 400);
    if (path !== LIVE_PATH) {
      // Another listener may serve that path; when there is none the request still needs an answer.
      if (this.#server?.listenerCount('upgrade') === 1) refuse(socket, 404);
      return;
    }
    if (this.#closing) return refuse(socket, 503);
    // Until ws takes the socket, a client that goes away must not leave an unhandled error behind.
    const onError = () => socket.destroy();
    socket.on('error', onError);
    this.#admit(req, socket, head)
      .catch((err: unknown) => {
        this.#logger.warn('live stream cannot admit a connection', { error: (err as Error).message });
        this.#refuse(socket, 503, 'unavailable', { 'Retry-After': String(FULL_RETRY_AFTER_S) });
      })
      .finally(() => socket.off('error', onError));
  };

  /** Checks an upgrade against the limits (and its credential, when it carries one) before completing it. */
  async #admit(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const address = addressKey(this.#clientAddress(req));
    if (this.#addressLimit) {
      const wait = await this.#addressLimit.take(address);
      if (wait > 0) return this.#refuse(socket, 429, 'rate-limited', { 'Retry-After': String(wait) }, 'rate limit of this address exceeded');
    }
    if (credentialInUrl(req)) {
      return this.#refuse(socket, 400, 'credential-in-url', {}, 'credentials in the URL are not accepted: send {"type":"auth","token":"…"} as the first message, or offer the subprotocols tmon.live.v1 and bearer.<token>');
    }
    // Checked and reserved in one synchronous step: upgrades being authenticated count as connections already.
    if (this.#connections.size + this.#reserved >= this.#settings.maxConnections) {
      return this.#refuse(socket, 503, 'full', { 'Retry-After': String(FULL_RETRY_AFTER_S) }, 'the live stream of this gateway is full');
    }
    this.#reserved++;
    try {
      const credential = upgradeCredential(req);
      const epoch = this.#revocationEpoch;
      // A refused credential is refused after the upgrade, with 4401, which a browser can read (an HTTP status it cannot).
      const principal = credential === undefined ? undefined : await this.#authenticate(credential);
      if (principal && !this.#hasRoomFor(principal)) {
        return this.#refuse(socket, 429, 'over-cap', {}, `too many live connections for ${principal.subject}`);
      }
      if (!principal && (this.#unauthenticated.get(address) ?? 0) >= this.#settings.maxUnauthenticatedPerAddress) {
        return this.#refuse(socket, 429, 'unauthenticated-cap', {}, 'too many live connections from this address have not authenticated yet');
      }
      if (this.#closing) return refuse(socket, 503);
      // A revocation heard while the credential was being checked may concern it: the connection checks it again
      // before it is ready (a recheck came too early: the connection holds no credential until it is ready).
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        const connection = this.#accept(ws, credential, epoch === this.#revocationEpoch ? principal : undefined);
        // Counted until it authenticates (#count) or ends: unless it came with a principal, it has none yet.
        if (!principal) this.#countUnauthenticated(connection, address);
      });
    } finally {
      // handleUpgrade completes (or aborts) synchronously: the socket is a connection now, or gone.
      this.#reserved--;
    }
  }

  #refuse(socket: Duplex, status: number, reason: RefusalReason, headers: Record<string, string> = {}, detail?: string): void {
    this.#metrics.refused(reason);
    refuse(socket, status, headers, detail);
  }

  #accept(ws: WebSocket, credential: string | undefined, principal: Principal | undefined): LiveConnection {
    const connection: LiveConnection = new LiveConnection(ws, credential === undefined ? undefined : { credential, principal }, {
      authenticate: this.#authenticate,
      logger: this.#logger,
      authTimeoutMs: this.#settings.authTimeoutMs,
      maxBufferedBytes: this.#settings.maxBufferedBytes,
      maxPendingSamples: MAX_PENDING_SAMPLES,
      closeGraceMs: CLOSE_GRACE_MS,
      interestsChanged: () => this.#syncSubscriptions(),
      admit: (p) => this.#count(connection, p),
      revocationEpoch: () => this.#revocationEpoch,
      ended: (reason) => {
        this.#connections.delete(ws);
        this.#uncount(connection);
        this.#uncountUnauthenticated(connection);
        if (reason) this.#metrics.dropped(reason);
        this.#syncSubscriptions().catch((err: unknown) => this.#logger.warn('live stream cannot update its subscriptions', { error: (err as Error).message }));
      },
    });
    this.#connections.set(ws, connection);
    return connection;
  }

  #hasRoomFor(principal: Principal): boolean {
    return (this.#byPrincipal.get(principalKey(principal))?.size ?? 0) < this.#settings.maxConnectionsPerPrincipal;
  }

  #countUnauthenticated(connection: LiveConnection, address: string): void {
    this.#unauthenticated.set(address, (this.#unauthenticated.get(address) ?? 0) + 1);
    this.#addressOf.set(connection, address);
  }

  #uncountUnauthenticated(connection: LiveConnection): void {
    const address = this.#addressOf.get(connection);
    if (address === undefined) return;
    this.#addressOf.delete(connection);
    const left = (this.#unauthenticated.get(address) ?? 1) - 1;
    if (left > 0) this.#unauthenticated.set(address, left);
    else this.#unauthenticated.delete(address);
  }

  /** Counts `connection` for `principal` (moving it from another principal's count); false when there is no room. */
  #count(connection: LiveConnection, principal: Principal): boolean {
    const key = principalKey(principal);
    if (this.#principalOf.get(connection) === key) return true;
    if (!this.#hasRoomFor(principal)) return false;
    this.#uncountUnauthenticated(connection);
    this.#uncount(connection);
    const set = this.#byPrincipal.get(key) ?? new Set();
    set.add(connection);
    this.#byPrincipal.set(key, set);
    this.#principalOf.set(connection, key);
    return true;
  }

  #uncount(connection: LiveConnection): void {
    const key = this.#principalOf.get(connection);
    if (key === undefined) return;
    this.#principalOf.delete(connection);
    const set = this.#byPrincipal.get(key);
    set?.delete(connection);
    if (set && !set.size) this.#byPrincipal.delete(key);
  }

  /** A revocation event: the connections it may concern check their credentials again. */
  #revoked(event: Revocation): void {
    this.#revocationEpoch++;
    for (const connection of this.#connections.values()) if (connection.affectedBy(event)) connection.recheck();
  }

  /** Checks every authenticated connection's credential again, each distinct credential once (until a revocation is heard). */
  #recheckAll(): void {
    const checks = new Map<string, Promise<Principal | undefined>>();
    const epoch = this.#revocationEpoch;
    const authenticate: LiveAuthenticate = (credential) => {
      // A check shared before a revocation may have read the state before it: after one, each connection checks anew.
      if (epoch !== this.#revocationEpoch) return this.#authenticate(credential);
      let check = checks.get(credential);
      if (!check) checks.set(credential, (check = this.#authenticate(credential)));
      return check;
    };
    for (const connection of this.#connections.values()) if (connection.principal) connection.recheck(authenticate);
  }

  /** Opens the subscriptions some client wants and closes those none does; resolves once NATS has the new ones. */
  #syncSubscriptions(): Promise<void> {
    const connections = [...this.#connections.values()];
    const wantSamples = !this.#closing && connections.some((c) => c.wantsSamples);
    const wantAlerts = !this.#closing && connections.some((c) => c.wantsAlerts);
    let opened = false;
    // The sample firehose is decoded only while someone watches it.
    if (wantSamples && !this.#samples) {
      this.#samples = this.#bus.subscribe(SUBJECTS.samples, (batch) => this.#fanOutSamples(samplesOf(batch).filter((s) => !isStaleMarker(s))), this.#onInvalid);
      opened = true;
    } else if (!wantSamples && this.#samples) {
      this.#samples.unsubscribe();
      this.#samples = undefined;
    }
    if (wantAlerts && !this.#alerts.length) {
      this.#alerts = [
        this.#bus.subscribe(SUBJECTS.alertEvents, (event) => this.#fanOutAlerts(encodeServerMessage({ type: 'alert', event })), this.#onInvalid),
        this.#bus.subscribe(SUBJECTS.dashboardNotifications, (notification) => this.#fanOutAlerts(encodeServerMessage({ type: 'notification', notification })), this.#onInvalid),
      ];
      opened = true;
    } else if (!wantAlerts && this.#alerts.length) {
      for (const sub of this.#alerts) sub.unsubscribe();
      this.#alerts = [];
    }
    // After a flush round trip the server has the new subscriptions: a client told "subscribed" misses nothing published later.
    if (opened) {
      // A flush that fails (NATS reconnecting) fails the subscription that asked for it, not the next ones: kept, it
      // answered every later subscribe and unsubscribe of every client with the same rejection, each closed 1011.
      const flushed = this.#bus.nc.flush();
      this.#registered = flushed.catch(() => undefined);
      return flushed;
    }
    return this.#registered;
  }

  #fanOutSamples(samples: Sample[]): void {
    let encoded: string[] | undefined;
    for (const connection of this.#connections.values()) {
      if (!connection.wantsSamples) continue;
      // Each sample is encoded once, however many clients receive it.
      encoded ??= samples.map((s) => JSON.stringify(s));
      connection.offerSamples(samples, encoded);
    }
  }

  #fanOutAlerts(frame: string): void {
    for (const connection of this.#connections.values()) if (connection.wantsAlerts) connection.sendFrame(frame);
  }

  readonly #onInvalid = (error: InvalidMessageError): void => {
    this.#logger.warn('live stream skipped an invalid message', { subject: error.subject, error: error.message });
  };
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' };

/** Answers an upgrade the live stream does not take with an HTTP status (and a line of text saying why). */
function refuse(socket: Duplex, status: number, headers: Record<string, string> = {}, detail = ''): void {
  if (socket.destroyed) return;
  socket.on('error', () => socket.destroy());
  const body = detail ? `${detail}\n` : '';
  const lines = [`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ''}`, 'Connection: close', 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/** The path of a request target, or undefined for one that is not a URL. */
function pathOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '/', 'http://gateway').pathname;
  } catch {
    return undefined;
  }
}
