import { sign, verify } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { BackupVerificationError, KeyMissingError, VERIFY_FAILURES } from '../errors.ts';
import type { Keyring } from '../keys/keyring.ts';

const ChunkSchema = z.strictObject({
  file: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
  rawBytes: z.number().int().nonnegative(),
  rows: z.number().int().nonnegative(),
});

/** The signed description of one backup: every chunk with its checksum, row count and key. */
export const ManifestSchema = z.strictObject({
  format: z.literal('terminusa-backup/1'),
  id: z.string(),
  kind: z.enum(['full', 'incremental']),
  createdAt: z.string(),
  /** The backup this one builds on (incrementals only). */
  previous: z.string().nullable(),
  /** PostgreSQL snapshot xmin when the backup was taken; the next incremental takes rows written since. */
  watermark: z.string().regex(/^\d+$/),
  /**
   * The PostgreSQL cluster and timeline the watermark counts in (`<system identifier>/<timeline>`): an incremental
   * builds only on a backup of the same. Absent in backups from before it was recorded, which are not built on.
   */
  cluster: z.string().optional(),
  schema: z.string(),
  keyId: z.string(),
  signingKeyId: z.string(),
  tables: z.array(
    z.strictObject({
      table: z.string(),
      columns: z.array(z.string()),
      primaryKey: z.array(z.string()),
      /** The COPY format of the table's chunks; backups from before binary chunks have none and are text. */
      encoding: z.enum(['text', 'binary']).default('text'),
      rows: z.number().int().nonnegative(),
      chunks: z.array(ChunkSchema),
    }),
  ),
  /**
   * The engine's snapshot (absent when backups hold no engine data): every directory, every part directory it
   * held, and the files this backup carries (in an incremental, only those of part directories its base lacks,
   * plus the files outside part directories), each file cut into chunks like the tables.
   */
  engine: z
    .strictObject({
      snapshot: z.string(),
      dirs: z.array(z.string()),
      parts: z.array(z.string()),
      files: z.array(z.strictObject({ path: z.string(), bytes: z.number().int().nonnegative(), chunks: z.array(ChunkSchema) })),
    })
    .optional(),
  /** Configuration files and archive files, each as one chunk. */
  files: z.array(z.strictObject({ kind: z.enum(['config', 'archive']), path: z.string(), chunk: ChunkSchema })),
  durationMs: z.number().nonnegative(),
});
/** A backup's manifest. */
export type Manifest = z.infer<typeof ManifestSchema>;

/** File names inside a backup directory. */
export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.sig';

/** Serializes and signs a manifest (Ed25519 over the exact bytes written). */
export function signManifest(manifest: Manifest, keyring: Keyring): { json: Buffer; signature: string } {
  const json = Buffer.from(JSON.stringify(manifest, null, 2));
  return { json, signature: sign(null, json, keyring.signingKey().privateKey).toString('base64') };
}

/** Reads a backup's manifest and checks its signature before trusting a byte of it. */
export async function readVerifiedManifest(backupsDir: string, id: string, keyring: Keyring): Promise<Manifest> {
  const dir = join(backupsDir, id);
  let json: Buffer;
  let signature: Buffer;
  try {
    json = await readFile(join(dir, MANIFEST_FILE));
    signature = Buffer.from((await readFile(join(dir, SIGNATURE_FILE), 'utf8')).trim(), 'base64');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? VERIFY_FAILURES.MISSING_BACKUP : VERIFY_FAILURES.MANIFEST_UNREADABLE;
    throw new BackupVerificationError(code, id, `cannot read ${dir}: ${(err as Error).message}`, { cause: err });
  }
  let unverified: { signingKeyId?: unknown };
  try {
    unverified = JSON.parse(json.toString()) as { signingKeyId?: unknown };
  } catch (err) {
    throw new BackupVerificationError(VERIFY_FAILURES.MANIFEST_UNREADABLE, id, 'manifest is not JSON', { cause: err });
  }
  let ok: boolean;
  try {
    ok = verify(null, json, keyring.verifyKey(String(unverified.signingKeyId)), signature);
  } catch (err) {
    if (err instanceof KeyMissingError) throw new BackupVerificationError(VERIFY_FAILURES.KEY_MISSING, id, err.message, { cause: err });
    ok = false;
  }
  if (!ok) throw new BackupVerificationError(VERIFY_FAILURES.SIGNATURE_INVALID, id, 'the manifest signature does not match: the manifest was changed or signed by another key');
  const parsed = ManifestSchema.safeParse(unverified);
  if (!parsed.success) throw new BackupVerificationError(VERIFY_FAILURES.MANIFEST_UNREADABLE, id, parsed.error.message);
  if (parsed.data.id !== id) throw new BackupVerificationError(VERIFY_FAILURES.MANIFEST_UNREADABLE, id, `manifest names backup ${parsed.data.id}`);
  return parsed.data;
}

/** Ids of the complete backups in `backupsDir` (temporary directories of unfinished backups are skipped). */
export async function listBackupIds(backupsDir: string): Promise<string[]> {
  try {
    const entries = await readdir(backupsDir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
