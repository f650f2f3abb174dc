/**
 * A service that does not migrate (`database.migrate: false`) found the schema not at its code's version, or its
 * role without the grants it needs, when `database.migrationTimeout` ran out: its start fails, to be retried by its
 * restart policy once the owner (storage, backup) has run.
 */
export class SchemaNotReadyError extends Error {
  override readonly name = 'SchemaNotReadyError';
  constructor(
    readonly schema: string,
    readonly reason: string,
    waitedMs: number,
  ) {
    super(
      `schema ${schema} not ready after ${Math.round(waitedMs / 1000)} s: ${reason}. This service does not migrate (database.migrate false); ` +
        'a service logging in as the owner role (storage, backup) migrates the schema and grants the roles of database.roles at its start ' +
        '(deploy/postgres/roles.sql makes the roles; docs/deploy.md §8)',
    );
  }
}
