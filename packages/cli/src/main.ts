import { Command, CommanderError } from 'commander';
import type { CommandContext } from './command-context.ts';
import { registerAlertCommands } from './commands/alerts.ts';
import { registerArchiveCommands } from './commands/archive.ts';
import { registerAuthCommands } from './commands/auth.ts';
import { registerBackupCommands } from './commands/backup.ts';
import { registerDeadLetterCommands } from './commands/dead-letters.ts';
import { registerMetricsCommands } from './commands/metrics.ts';
import { registerPublishCommand } from './commands/publish.ts';
import { registerRuleCommands } from './commands/rules.ts';
import { registerServiceCommands } from './commands/services.ts';
import { registerSilenceCommands } from './commands/silences.ts';
import { connect, type GlobalOptions } from './connection.ts';
import { CredentialStore } from './credentials.ts';
import { readEnvironment } from './environment.ts';
import { CliError } from './errors.ts';
import { EXIT } from './exit-codes.ts';

const env = readEnvironment();
const store = new CredentialStore(env.configDir);

const program = new Command('tmon')
  .description('Terminusa Monitoring from the command line, over the gateway\'s HTTP API (and NATS for tmon publish).\nExit codes: 0 ok, 1 failure, 2 usage, 3 gateway unreachable, 4 not authenticated, 5 forbidden, 6 not found (docs/cli.md).')
  .option('--url <url>', 'gateway base URL (env TMON_URL; default: the stored login\'s, else http://127.0.0.1:8080)')
  // A file, not the secret itself: a command line is visible to every user in `ps` and kept in shell history.
  .option('--token-file <path>', 'file holding a bearer token or API key (env TMON_TOKEN; default: the stored login)')
  .showSuggestionAfterError()
  // Set before the commands are added, so every subcommand inherits it: usage errors become exit code 2 in one place.
  .exitOverride();

const ctx: CommandContext = {
  env,
  store,
  globals: () => program.opts<GlobalOptions>(),
  client: () => connect(program.opts<GlobalOptions>(), env, store),
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  interactive: Boolean(process.stderr.isTTY),
};

registerAuthCommands(program, ctx);
registerMetricsCommands(program, ctx);
registerAlertCommands(program, ctx);
registerSilenceCommands(program, ctx);
registerRuleCommands(program, ctx);
registerServiceCommands(program, ctx);
registerBackupCommands(program, ctx);
registerArchiveCommands(program, ctx);
registerDeadLetterCommands(program, ctx);
registerPublishCommand(program, ctx);

try {
  await program.parseAsync(process.argv);
  process.exitCode = EXIT.ok;
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has printed the message or the help already; help and --version asked for are not errors.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (err instanceof CliError) {
    process.stderr.write(`tmon: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`tmon: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = EXIT.failure;
  }
}
