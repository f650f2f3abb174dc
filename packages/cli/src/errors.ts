import { EXIT, type ExitCode } from './exit-codes.ts';

/** A failure the user should read: its message is printed as is and the process exits with `exitCode`. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failure,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Wrong arguments or options, or input the gateway refused. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** The gateway did not answer, or a service behind it is down. */
export class GatewayUnreachableError extends CliError {
  override name = 'GatewayUnreachableError';
  constructor(message: string, cause?: unknown) {
    super(message, EXIT.unreachable, { cause });
  }
}

/** No usable credential: the fix is `tmon login`. */
export class NotAuthenticatedError extends CliError {
  override name = 'NotAuthenticatedError';
  constructor(message: string) {
    super(`${message}; run tmon login`, EXIT.unauthenticated);
  }
}

/** The credential's role is too low; the message names the role needed. */
export class ForbiddenError extends CliError {
  override name = 'ForbiddenError';
  constructor(message: string) {
    super(message, EXIT.forbidden);
  }
}

/** The named thing does not exist. */
export class NotFoundError extends CliError {
  override name = 'NotFoundError';
  constructor(message: string) {
    super(message, EXIT.notFound);
  }
}
