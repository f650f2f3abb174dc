// The NATS bootstrap as a program: `pnpm nats:bootstrap` from a checkout, `node tools/nats-bootstrap.mjs` in the
// image (the compose service nats-bootstrap, the Kubernetes Job). Reads the suite's configuration like a service
// (NATS_URL=nats://bootstrap@nats:4222, NATS_PASSWORD_FILE, TMON_NATS__REPLICAS…); exits 0 once every stream and
// durable consumer is in place, 1 when it could not, 78 on an invalid configuration.
import { hostname } from 'node:os';
import { loadConfigOrExit } from '@terminusa/config';
import { createLogger } from './logger.ts';
import { bootstrapNats } from './nats-bootstrap.ts';

const config = loadConfigOrExit({}, 'nats-bootstrap');
const logger = createLogger(config.log, { service: 'nats-bootstrap', instance: `${hostname()}-${process.pid}` });
const ok = await bootstrapNats(config, logger).then(
  () => true,
  (err: unknown) => {
    logger.error('NATS bootstrap failed', { err });
    return false;
  },
);
logger.on('finish', () => process.exit(ok ? 0 : 1)).end();
