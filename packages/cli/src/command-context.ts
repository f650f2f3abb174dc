import { Option, type Command } from 'commander';
import type { CredentialStore } from './credentials.ts';
import type { CliEnvironment } from './environment.ts';
import type { GatewayClient } from './gateway-client.ts';
import type { GlobalOptions } from './connection.ts';
import { formatCsv, formatJson, formatTable, type Table } from './output.ts';

/** What every command gets: the gateway client for the global options in force, the login store and the output streams. */
export interface CommandContext {
  readonly env: CliEnvironment;
  readonly store: CredentialStore;
  /** The global options (`--url`, `--token-file`) as parsed. */
  globals(): GlobalOptions;
  /** A client for the gateway in force; fails with "run tmon login" when there is no usable credential and a route needs one. */
  client(): Promise<GatewayClient>;
  /** Writes to standard output (data). */
  out(text: string): void;
  /** Writes to standard error (messages, progress). */
  err(text: string): void;
  /** Whether standard error is a terminal (progress bars, prompts). */
  readonly interactive: boolean;
}

/** The output format options of a listing command. */
export interface FormatOptions {
  json?: boolean;
  csv?: boolean;
}

/** Adds `--json` and `--csv` (one or the other) to a listing command. */
export function withFormatOptions(cmd: Command, csv = true): Command {
  cmd.addOption(new Option('--json', 'print the gateway\'s answer as JSON'));
  if (csv) cmd.addOption(new Option('--csv', 'print the table as CSV').conflicts('json'));
  return cmd;
}

/** Prints `answer` as JSON, or `table` as CSV or aligned text, as the options ask. */
export function printResult(ctx: CommandContext, opts: FormatOptions, answer: unknown, table: () => Table): void {
  if (opts.json) ctx.out(formatJson(answer));
  else if (opts.csv) ctx.out(formatCsv(table()));
  else ctx.out(formatTable(table()));
}
