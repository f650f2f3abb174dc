import type { IncomingMessage } from 'node:http';
import type { Express, Request } from 'express';

/**
 * The client address of a request the Express app does not route (a WebSocket upgrade), as the app's `req.ip`
 * gives it: from X-Forwarded-For as far as `gateway.trustProxy` trusts the hops, else the peer's address.
 */
export function clientAddressOf(app: Express): (req: IncomingMessage) => string {
  return (req) => {
    // Express reads `ip` through its request prototype (the app's compiled trust function over the headers and
    // socket); a view of the upgrade request on that prototype reads it the same way.
    const view = Object.create(app.request, {
      headers: { value: req.headers },
      socket: { value: req.socket },
      connection: { value: req.socket },
    }) as Request;
    return view.ip ?? req.socket.remoteAddress ?? '';
  };
}
