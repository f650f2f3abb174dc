import type { ConnectionOptions } from 'nats';
import { inboxPrefix } from '@terminusa/bus';
import type { Config } from '@terminusa/config';
import { natsServers } from './nats-servers.ts';

/**
 * The nats.js options every connection of the suite starts from: the servers and credentials of `nats.url`, the
 * inbox prefix of its NATS user (`_INBOX_<user>`: replies, JetStream API answers, publish acks and pulled
 * messages arrive there, and the generated permissions let it subscribe there only), and TLS when `nats.tls`
 * names files. `user` is the role the permissions are generated for: the service's name, or `bootstrap`.
 */
export function natsConnectOptions(nats: Pick<Config['nats'], 'url' | 'tls'>, user: string): ConnectionOptions {
  const tls = nats.tls;
  return {
    ...natsServers(nats.url),
    inboxPrefix: inboxPrefix(user),
    ...(tls
      ? {
          tls: {
            ...(tls.ca ? { caFile: tls.ca } : {}),
            ...(tls.cert && tls.key ? { certFile: tls.cert, keyFile: tls.key } : {}),
          },
        }
      : {}),
  };
}
