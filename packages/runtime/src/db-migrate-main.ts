// The migrations as a program: `pnpm db:migrate` from a checkout, `node tools/db-migrate.mjs` in the image (the
// compose one-shot db-migrate, the Kubernetes Job). Reads the suite's configuration like a service, logged in as the
// owner role (DATABASE_URL=postgres://terminusa@…, DATABASE_PASSWORD_FILE); exits 0 once the schema is at this
// release's version and every service's role holds its tables, 1 when it could not, 78 on an invalid configuration.
import { hostname } from 'node:os';
import { loadConfigOrExit } from '@terminusa/config';
import { migrateDatabase } from '@terminusa/database';
import { createLogger } from './logger.ts';

const config = loadConfigOrExit({}, 'db-migrate');
const logger = createLogger(config.log, { service: 'db-migrate', instance: `${hostname()}-${process.pid}` });
const ok = await migrateDatabase(config.database, logger).then(
  () => true,
  (err: unknown) => {
    logger.error('database migration failed', { err });
    return false;
  },
);
logger.on('finish', () => process.exit(ok ? 0 : 1)).end();
