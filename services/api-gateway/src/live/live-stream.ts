import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Subscription } from 'nats';
import type { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import { SUBJECTS, samplesOf, type Bus, type InvalidMessageError, type Sample } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import type { TokenService } from '../auth/tokens.ts';
import type { PgUserStore } from '../auth/user-store.ts';
import { liveAuthenticator, upgradeCredential, type LiveAuthenticate } from './live-auth.ts';
import { LiveConnection } from './live-connection.ts';
import { liveMetrics, type LiveMetrics } from './live-metrics.ts';
import { CLOSE_CODES, encodeServerMessage, LIVE_PATH, LIVE_SUBPROTOCOL } from './live-protocol.ts';

/** Milliseconds between two `samples` frames to a client. */
export const DEFAULT_TICK_MS = 100;
/** Milliseconds between two pings; a client that has not answered the previous one is terminated. */
export const DEFAULT_HEARTBEAT_MS = 15_000;
/** Bytes a client may leave unread before it is dropped as too slow. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
/** Milliseconds a new connection has to authenticate. */
export const DEFAULT_AUTH_TIMEOUT_MS = 5_000;

/** Samples one connection holds between ticks before sending them early. */
const MAX_PENDING_SAMPLES = 10_000;
/** Milliseconds a closing client has to answer the close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 2_000;
/** Largest client frame; the largest valid message (100 patterns of 200 characters) is about 21 KB. */
const MAX_CLIENT_FRAME_BYTES = 64 * 1024;

/** What the live stream reads from, and its settings. */
export interface LiveStreamDeps {
  bus: Bus;
  tokens: TokenService;
  users: PgUserStore;
  logger: Logger;
  /** Where `tmon_gateway_ws_clients` and `tmon_gateway_ws_dropped_total` are registered; none without it. */
  registry?: Registry;
  tickMs?: number;
  heartbeatMs?: number;
  maxBufferedBytes?: number;
  authTimeoutMs?: number;
}

/**
 * The gateway's live stream at `GET /ws`: samples, alert events and dashboard notifications pushed over a WebSocket.
 *
 * Protocol (JSON text frames):
 * - Authentication: the first message is `{"type":"auth","token":"<JWT or tmk_ API key>"}`, within 5 s. A browser may
 *   instead put the credential in the URL (`/ws?token=…`) or offer the subprotocols `tmon.live.v1` and `bearer.<token>`.
 *   The gateway answers `{"type":"ready","subject":…,"role":…,"expiresAt"?:…}`, or closes with 4401 and a reason.
 *   A token's connection is closed with 4401 when the token expires (API keys do not expire); sending another `auth`
 *   with a fresh token before then keeps the connection.
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
 *
 * One core NATS subscription per subject serves every client, opened while some client wants it (core subscriptions
 * also see what is published to JetStream, without any consumer state).
 */
export class LiveStream {
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #authenticate: LiveAuthenticate;
  readonly #metrics: LiveMetrics;
  readonly #settings: { tickMs: number; heartbeatMs: number; maxBufferedBytes: number; authTimeoutMs: number };
  readonly #wss: WebSocketServer;
  readonly #connections = new Map<WebSocket, LiveConnection>();
  #samples: Subscription | undefined;
  #alerts: Subscription[] = [];
  #registered: Promise<void> = Promise.resolve();
  #server: Server | undefined;
  #timers: NodeJS.Timeout[] = [];
  #closing: Promise<void> | undefined;

  constructor(deps: LiveStreamDeps) {
    this.#bus = deps.bus;
    this.#logger = deps.logger;
    this.#authenticate = liveAuthenticator(deps.tokens, deps.users);
    this.#metrics = liveMetrics(deps.registry, () => this.clients());
    this.#settings = {
      tickMs: deps.tickMs ?? DEFAULT_TICK_MS,
      heartbeatMs: deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
      maxBufferedBytes: deps.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
      authTimeoutMs: deps.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS,
    };
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_CLIENT_FRAME_BYTES,
      perMessageDeflate: false,
      // Never echo the `bearer.<token>` protocol: the credential would come back in a response header.
      handleProtocols: (offered) => (offered.has(LIVE_SUBPROTOCOL) ? LIVE_SUBPROTOCOL : false),
    });
  }

  /** Serves `GET /ws` upgrades of `server` and starts the tick and heartbeat timers. */
  attach(server: Server): void {
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
    ];
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
    const gone = [...this.#wss.clients].map((ws) => new Promise<void>((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once('close', () => resolve()))));
    for (const connection of [...this.#connections.values()]) connection.close(CLOSE_CODES.goingAway, 'server shutting down');
    await Promise.all(gone);
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  readonly #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (new URL(req.url ?? '/', 'http://gateway').pathname !== LIVE_PATH) {
      // Another listener may serve that path; when there is none the request still needs an answer.
      if (this.#server?.listenerCount('upgrade') === 1) refuse(socket, '404 Not Found');
      return;
    }
    if (this.#closing) return refuse(socket, '503 Service Unavailable');
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, upgradeCredential(req)));
  };

  #accept(ws: WebSocket, credential: string | undefined): void {
    const connection = new LiveConnection(ws, credential, {
      authenticate: this.#authenticate,
      logger: this.#logger,
      authTimeoutMs: this.#settings.authTimeoutMs,
      maxBufferedBytes: this.#settings.maxBufferedBytes,
      maxPendingSamples: MAX_PENDING_SAMPLES,
      closeGraceMs: CLOSE_GRACE_MS,
      interestsChanged: () => this.#syncSubscriptions(),
      ended: (reason) => {
        this.#connections.delete(ws);
        if (reason) this.#metrics.dropped(reason);
        this.#syncSubscriptions().catch((err: unknown) => this.#logger.warn('live stream cannot update its subscriptions', { error: (err as Error).message }));
      },
    });
    this.#connections.set(ws, connection);
  }

  /** Opens the subscriptions some client wants and closes those none does; resolves once NATS has the new ones. */
  #syncSubscriptions(): Promise<void> {
    const connections = [...this.#connections.values()];
    const wantSamples = !this.#closing && connections.some((c) => c.wantsSamples);
    const wantAlerts = !this.#closing && connections.some((c) => c.wantsAlerts);
    let opened = false;
    // The sample firehose is decoded only while someone watches it.
    if (wantSamples && !this.#samples) {
      this.#samples = this.#bus.subscribe(SUBJECTS.samples, (batch) => this.#fanOutSamples(samplesOf(batch)), this.#onInvalid);
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
    if (opened) this.#registered = this.#bus.nc.flush();
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

/** Answers an upgrade the live stream does not take with a bare HTTP status. */
function refuse(socket: Duplex, status: string): void {
  socket.on('error', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
