import { Command, Option } from 'commander';
import { loadConfigOrExit } from '@terminusa/config';
import { createPool, ensureDatabase, migrate, prepareSchema } from '@terminusa/database';
import { BackupOperations } from './backup-operations.ts';
import { BackupVerificationError, RestoreIncompleteError } from './errors.ts';
import { TargetNotEmptyError } from './restore/restore-backup.ts';
import { lacksEngineData, NO_ENGINE_DATA } from './report-setup.ts';

/** Exit codes scripts can test: REFUSED wrote nothing (verification, a drill target holding rows), INCOMPLETE failed after the restore began writing. */
const EXIT = { OK: 0, FAILED: 1, USAGE: 2, REFUSED: 3, INCOMPLETE: 4 } as const;

const config = loadConfigOrExit({}, 'tmon-backup');

/** Runs one command against the configured database, closing the pool afterwards and mapping errors to exit codes. */
async function withOps(work: (ops: BackupOperations) => Promise<void>): Promise<void> {
  // Connects on first use only: verify, and a restore refused by verification, touch no database.
  const pool = createPool(config.database, 'tmon-backup');
  try {
    await work(new BackupOperations(config, pool));
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = err instanceof BackupVerificationError || err instanceof TargetNotEmptyError ? EXIT.REFUSED : err instanceof RestoreIncompleteError ? EXIT.INCOMPLETE : EXIT.FAILED;
  } finally {
    await pool.end();
  }
}

const print = (json: boolean, value: unknown, text: string): void => void process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

const program = new Command('tmon-backup')
  .description('Back up, verify and restore the Terminusa Monitoring database (settings from the environment and CONFIG_FILE)')
  .option('--json', 'print machine-readable JSON')
  .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE));

program
  .command('run')
  .description('take a backup now')
  .addOption(new Option('--kind <kind>', 'full or incremental').choices(['full', 'incremental']).default('full'))
  .option('--include-archives', 'also save the storage archive files (full backups)')
  .action((opts: { kind: 'full' | 'incremental'; includeArchives?: boolean }) =>
    withOps(async (ops) => {
      const { manifest, pruned } = await ops.run(opts.kind, opts.includeArchives ?? false);
      const rows = manifest.tables.reduce((n, t) => n + t.rows, 0);
      const engineFiles = manifest.engine?.files.length;
      print(
        program.opts().json,
        { id: manifest.id, kind: manifest.kind, rows, engineFiles: engineFiles ?? null, pruned },
        `${manifest.id}: ${manifest.kind}, ${rows} rows in ${manifest.tables.length} tables${engineFiles === undefined ? '' : `, ${engineFiles} engine files`}, ${manifest.durationMs} ms${pruned.length ? `; pruned ${pruned.join(', ')}` : ''}`,
      );
      if (lacksEngineData(config)) process.stderr.write(`warning: ${NO_ENGINE_DATA}\n`);
    }),
  );

program
  .command('list')
  .description('list backups and archive files')
  .action(() =>
    withOps(async (ops) => {
      const backups = await ops.list();
      const archives = await ops.archives();
      const lines = backups.map((b) => (b.damaged ? `${b.id}  DAMAGED: ${b.damaged}` : `${b.id}  ${b.kind.padEnd(11)} ${String(b.rows).padStart(10)} rows  ${mb(b.bytes).padStart(10)}  key ${b.keyId}${b.previous ? `  after ${b.previous}` : ''}`));
      for (const a of archives) lines.push(`archive ${a.path}  ${mb(a.bytes)}`);
      print(program.opts().json, { backups, archives }, lines.join('\n') || 'no backups');
    }),
  );

program
  .command('verify <id>')
  .description('check a backup completely (signature, checksums, encryption tags, row counts) without restoring it')
  .action((id: string) =>
    withOps(async (ops) => {
      const v = await ops.verify(id);
      print(program.opts().json, { ok: true, id, chunks: v.chunks, rows: v.rows, bytes: v.bytes }, `${id}: ok, ${v.chunks} chunks, ${v.rows} rows, ${mb(v.bytes)}`);
    }),
  );

program
  .command('restore <id>')
  .description('verify the backup and the chain it builds on, then restore it')
  .option('--into <database-url>', 'restore into this database (created if missing, refused if its tables hold rows) instead of the configured one, e.g. for a restore drill')
  .option('--replace', 'with --into: empty the tables of a database that holds rows before restoring into it')
  .option('--engine-data-dir <dir>', "also write the backup's engine snapshot into this missing or empty directory (then start victoria-metrics with -storageDataPath=<dir>; never a running engine's directory)")
  .action((id: string, opts: { into?: string; replace?: boolean; engineDataDir?: string }) => {
    // The live database is never emptied: rows written since the backup, and revocations, would be lost.
    if (opts.replace && !opts.into) program.error('error: --replace goes with --into <database-url> only');
    return withOps(async (ops) => {
      // The pool connects on its first query, which comes after the backup is verified: a refused backup touches no database.
      const target = createPool(opts.into ? { ...config.database, url: opts.into } : config.database, 'tmon-backup-restore');
      try {
        const result = await ops.restore(id, target, {
          onProgress: (p) => {
            if (p.done) process.stderr.write(`  ${p.backupId} ${p.table}: ${p.rows} rows, ${mb(p.bytes)}\n`);
          },
          // Another database is created and migrated, and so owned, by whoever restores; the configured one is
          // migrated only by its owner (database.migrate): the backup's own role waits for the owner's schema instead.
          prepareTarget: async () => {
            if (!opts.into) return prepareSchema(target, config.database, 'backup', { info: (message) => process.stderr.write(`${message}\n`) });
            await ensureDatabase(opts.into);
            await migrate(target, config.database.schema);
          },
          ...(opts.into ? { ifTargetHasRows: opts.replace ? ('replace' as const) : ('refuse' as const) } : {}),
          ...(opts.engineDataDir === undefined ? {} : { engineDataDir: opts.engineDataDir }),
        });
        const engine = result.engine ? `; engine data: ${result.engine.files} files, ${mb(result.engine.bytes)} in ${result.engine.dir} (start victoria-metrics with -storageDataPath=${result.engine.dir})` : '';
        print(program.opts().json, { ok: true, ...result }, `restored ${result.backups.join(' → ')}: ${result.rows} rows, ${mb(result.bytes)}${engine}`);
      } finally {
        await target.end();
      }
    });
  });

program
  .command('prune')
  .description('delete backups past retention (never a base a kept incremental needs)')
  .action(() =>
    withOps(async (ops) => {
      const pruned = await ops.prune();
      print(program.opts().json, { pruned }, pruned.length ? `pruned ${pruned.join(', ')}` : 'nothing to prune');
    }),
  );

program
  .command('rotate-key')
  .description('add a new backup data key if the current one is older than the rotation period')
  .option('--force', 'rotate now whatever the key age')
  .action((opts: { force?: boolean }) =>
    withOps(async (ops) => {
      const id = await ops.rotateKey(opts.force ?? false);
      print(program.opts().json, { rotated: id ?? null }, id ? `new data key ${id}` : 'current key is not due for rotation');
    }),
  );

const signingKey = program.command('signing-key').description('the signing key as a file of its own (backup.signingKey), apart from the data keys');

signingKey
  .command('create <file>')
  .description('write a new signing key to <file> (mode 0600; never an existing file), keeping the public keys that check older backups; prints only its public key')
  .action((file: string) =>
    withOps(async (ops) => {
      const made = await ops.createSigningKey(file);
      print(
        program.opts().json,
        { id: made.id, file, fingerprint: made.fingerprint, publicKey: made.publicKeyPem, retired: made.retired },
        `signing key ${made.id} written to ${file}\nfingerprint ${made.fingerprint}\n${made.publicKeyPem.trimEnd()}\nkept for older backups: ${made.retired.join(', ') || 'none'}\nnext: set backup.signingKey (TMON_BACKUP__SIGNING_KEY) to this file, restart, then run \`tmon-backup signing-key drop-from-keyring\``,
      );
    }),
  );

signingKey
  .command('drop-from-keyring')
  .description('remove from the keyring the signing keys backup.signingKey has replaced, once it keeps their public keys')
  .action(() =>
    withOps(async (ops) => {
      const dropped = await ops.dropKeyringSigningKeys();
      print(program.opts().json, { dropped }, dropped.length ? `removed signing keys ${dropped.join(', ')} from the keyring` : 'the keyring holds no signing key');
    }),
  );

await program.parseAsync(process.argv);
