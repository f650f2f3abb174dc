/** Why a backup was refused; one code per kind of damage, so the operator knows what to look at. */
export const VERIFY_FAILURES = {
  MISSING_BACKUP: 'missing-backup',
  MANIFEST_UNREADABLE: 'manifest-unreadable',
  SIGNATURE_INVALID: 'signature-invalid',
  KEY_MISSING: 'key-missing',
  CHUNK_MISSING: 'chunk-missing',
  CHECKSUM_MISMATCH: 'checksum-mismatch',
  DECRYPT_FAILED: 'decrypt-failed',
  ROW_COUNT_MISMATCH: 'row-count-mismatch',
  CHAIN_BROKEN: 'chain-broken',
} as const;
/** One kind of verification failure. */
export type VerifyFailure = (typeof VERIFY_FAILURES)[keyof typeof VERIFY_FAILURES];

/** A backup (or its chain) failed verification; nothing was restored. */
export class BackupVerificationError extends Error {
  override readonly name = 'BackupVerificationError';
  constructor(
    readonly code: VerifyFailure,
    readonly backupId: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`backup ${backupId} refused (${code}): ${detail}`, options);
  }
}

/**
 * A restore that failed after it began writing the database: the tables listed were restored, the table being loaded
 * when it failed was rolled back if it was empty before (one transaction) and holds the batches upserted before the
 * failure otherwise. Running the restore again, once the cause is fixed, completes it.
 */
export class RestoreIncompleteError extends Error {
  override readonly name = 'RestoreIncompleteError';
  constructor(
    readonly backupId: string,
    readonly restored: readonly string[],
    cause: unknown,
  ) {
    super(
      `restore of ${backupId} stopped after it began writing the database: ${(cause as Error).message}; ` +
        `${restored.length} table(s) were restored before it, a table that had rows may hold part of its batches: fix the cause and run the restore again`,
      { cause },
    );
  }
}

/** A key the backup needs is not in the keyring (or, for a signing key, not in the signing key file). */
export class KeyMissingError extends Error {
  override readonly name = 'KeyMissingError';
  constructor(
    readonly keyId: string,
    where = 'the keyring',
  ) {
    super(`key ${keyId} is not in ${where}`);
  }
}

/** The configured signing key file is missing, unreadable or malformed; the message never holds key material. */
export class SigningKeyFileError extends Error {
  override readonly name = 'SigningKeyFileError';
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`signing key file ${path} ${problem}`);
  }
}

/** The keyring file is unreadable or malformed; the message never holds key material. */
export class KeyringFileError extends Error {
  override readonly name = 'KeyringFileError';
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`keyring ${path} ${problem}`);
  }
}

/** A backup and a restore into the same database at once: the one that came second is refused, having touched nothing. */
export class BackupRestoreBusyError extends Error {
  override readonly name = 'BackupRestoreBusyError';
}
