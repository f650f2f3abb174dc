import type { Command } from 'commander';
import { z } from 'zod';
import type { CommandContext } from '../command-context.ts';
import { gatewayUrl } from '../connection.ts';
import { CliError, NotAuthenticatedError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { GatewayClient } from '../gateway-client.ts';
import { ask, askHidden, readStdin } from '../prompt.ts';

const TokenAnswer = z.object({ token: z.string(), expiresAt: z.string() });

/** `tmon login` and `tmon logout`. */
export function registerAuthCommands(program: Command, ctx: CommandContext): void {
  program
    .command('login')
    .description('sign in to the gateway and store the token in $XDG_CONFIG_HOME/tmon or ~/.config/tmon (mode 0600)')
    .option('-u, --username <name>', 'the user (asked on the terminal when missing)')
    .option('--password-stdin', 'read the password from standard input, for scripts')
    .action(async (opts: { username?: string; passwordStdin?: boolean }) => {
      const url = await gatewayUrl(ctx.globals(), ctx.env, ctx.store);
      const username = opts.username ?? (await ask('Username: '));
      const password = opts.passwordStdin ? await readStdin() : await askHidden('Password: ');
      if (!username || !password) throw new CliError('username and password must not be empty', EXIT.usage);
      const client = new GatewayClient(url, { missing: 'not needed to log in' });
      let answer: z.infer<typeof TokenAnswer>;
      try {
        answer = await client.request('POST', '/auth/login', TokenAnswer, { body: { username, password }, anonymous: true });
      } catch (err) {
        // The client's advice for a 401 is "run tmon login", which is what is running.
        if (err instanceof NotAuthenticatedError) throw new CliError(`login failed: wrong username or password`, EXIT.unauthenticated);
        throw err;
      }
      await ctx.store.write({ url: client.base.href.replace(/\/$/, ''), username, token: answer.token, expiresAt: answer.expiresAt });
      ctx.err(`logged in to ${client.base.origin} as ${username} until ${answer.expiresAt}; token stored in ${ctx.store.path}\n`);
    });

  program
    .command('logout')
    .description('revoke the stored token at the gateway it came from (POST /auth/logout) and remove the stored login')
    .action(async () => {
      let failure: CliError | undefined;
      try {
        // The stored login's own gateway and token, whatever --url, --token-file or TMON_* say: another gateway or an API
        // key would revoke nothing, and the stored token would stay valid while "logged out" was printed.
        const login = await ctx.store.read();
        if (login && Date.parse(login.expiresAt) > Date.now()) await new GatewayClient(login.url, { token: login.token }).request('POST', '/auth/logout', z.unknown());
      } catch (err) {
        // An expired or revoked token needs no revocation; anything else is reported after the local copy is gone.
        if (!(err instanceof NotAuthenticatedError)) failure = err instanceof CliError ? err : new CliError((err as Error).message);
      }
      const removed = await ctx.store.remove();
      ctx.err(removed ? `logged out; removed ${ctx.store.path}\n` : 'no stored login\n');
      if (failure) throw new CliError(`the token could not be revoked at the gateway: ${failure.message}`, failure.exitCode);
    });
}
