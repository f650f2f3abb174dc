import { mkdir, access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { runService } from '@terminusa/runtime';

// Scheduled backups arrive with their own issue; until then the service starts, registers and reports
// whether its backup directory is writable.
await runService({
  name: 'backup',
  description: 'takes encrypted, signed backups of the suite and restores them',
  async start({ config, health }) {
    const dir = join(config.dataDir, 'backups');
    await mkdir(dir, { recursive: true });
    health.add('backup-dir', () => access(dir, constants.W_OK));
  },
});
