/**
 * The exit codes of `tmon`, for scripts (documented in docs/cli.md). Each names a decision a script can take:
 * retry later (3), sign in again (4), ask for a higher role (5), fix the name or id (6).
 */
export const EXIT = {
  ok: 0,
  /** The command ran and failed: a gateway error, a damaged backup, an invalid rules file, health not ok. */
  failure: 1,
  /** Wrong arguments or options, or input the gateway refused as invalid (400). */
  usage: 2,
  /** The gateway could not be reached (connection refused, DNS, timeout) or a service behind it is down (502-504). */
  unreachable: 3,
  /** No token, or the token is expired, revoked or invalid: run `tmon login`. */
  unauthenticated: 4,
  /** Signed in, but the role is too low for this command. */
  forbidden: 5,
  /** The alert, silence, backup, job or file does not exist. */
  notFound: 6,
} as const;

/** One of the exit codes. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
