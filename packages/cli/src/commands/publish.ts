import type { Command } from 'commander';
import { connect, nkeyAuthenticator, type ConnectionOptions } from 'nats';
import { inboxPrefix, Namespace, SUBJECTS } from '@terminusa/bus';
import type { CommandContext } from '../command-context.ts';
import { CliError, GatewayUnreachableError, UsageError } from '../errors.ts';
import { parseTagArg } from '../tag-args.ts';
import { readInputFile } from '../read-input-file.ts';

/** What `tmon publish` is given. */
interface PublishOptions {
  metric: string[];
  tag: Record<string, string>;
  natsUrl: string;
  nkeySeedFile?: string;
}

const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** `name=value` pairs as samples with `tags`; a malformed pair names itself. */
export function samplesOf(metrics: readonly string[], tags: Record<string, string>): { name: string; value: number; tags: Record<string, string> }[] {
  return metrics.map((pair) => {
    const eq = pair.lastIndexOf('=');
    const value = eq > 0 ? Number(pair.slice(eq + 1)) : NaN;
    if (eq <= 0 || pair.slice(eq + 1).trim() === '' || !Number.isFinite(value)) throw new UsageError(`--metric ${pair}: expected name=number`);
    return { name: pair.slice(0, eq), value, tags };
  });
}

/** The message to publish: the JSON argument, else standard input when no --metric is given, else the --metric samples. */
async function messageOf(json: string | undefined, opts: PublishOptions, stdin: () => Promise<string>): Promise<string> {
  if (json !== undefined && opts.metric.length) throw new UsageError('give a JSON message or --metric, not both');
  if (opts.metric.length) return JSON.stringify({ samples: samplesOf(opts.metric, opts.tag) });
  const text = json ?? (await stdin());
  try {
    JSON.parse(text);
  } catch (err) {
    throw new UsageError(`the message is not JSON: ${(err as Error).message}`);
  }
  return text;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** How to reach NATS as producer `source`: its NKEY seed (file or NATS_NKEY_SEED) when one is given, its own inbox prefix. */
async function connectOptions(source: string, opts: PublishOptions, env: NodeJS.ProcessEnv): Promise<ConnectionOptions> {
  const seed = opts.nkeySeedFile ? (await readInputFile(opts.nkeySeedFile)).trim() : env.NATS_NKEY_SEED?.trim();
  return {
    servers: opts.natsUrl.split(','),
    inboxPrefix: inboxPrefix(source),
    ...(seed ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) } : {}),
    ...(env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASSWORD ?? '' } : {}),
  };
}

/**
 * `tmon publish`: publishes one message of samples to NATS as a game service does (subject
 * `metrics.ingest.<source>`, into the INGEST stream) and waits for JetStream's acknowledgement. The processor
 * validates it like any producer's: a refused sample goes to the dead-letter subject, not back here.
 */
export function registerPublishCommand(program: Command, ctx: CommandContext, env: NodeJS.ProcessEnv = process.env): void {
  program
    .command('publish')
    .description('publish samples to NATS as a game service does (metrics.ingest.<source>); waits for the INGEST stream to take them')
    .argument('<source>', 'the producer\'s name, the subject\'s last token (e.g. game)')
    .argument('[json]', 'the message, e.g. \'{"samples":[{"name":"players_online","value":1234}]}\'; standard input when neither it nor --metric is given')
    .option('--metric <name=value>', 'a sample instead of JSON (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--tag <key=value>', 'a tag of every --metric sample (repeatable)', parseTagArg, {})
    .option('--nats-url <url>', 'NATS servers, comma-separated (env NATS_URL)', env.NATS_URL ?? DEFAULT_NATS_URL)
    .option('--nkey-seed-file <file>', 'the producer\'s NKEY seed (pnpm nats:producer; env NATS_NKEY_SEED holds it directly)')
    .action(async (source: string, json: string | undefined, opts: PublishOptions) => {
      if (!/^[A-Za-z0-9_-]+$/.test(source)) throw new UsageError(`source ${JSON.stringify(source)}: letters, digits, _ and - only`);
      const message = await messageOf(json, opts, readStdin);
      const subject = new Namespace(env.NATS_PREFIX ?? '').subject(SUBJECTS.ingest.build(source));
      const nc = await connect(await connectOptions(source, opts, env)).catch((err: unknown) => {
        throw new GatewayUnreachableError(`cannot reach NATS at ${opts.natsUrl}: ${(err as Error).message}`, err);
      });
      try {
        const ack = await nc.jetstream().publish(subject, new TextEncoder().encode(message));
        ctx.err(`published to ${subject}: stream ${ack.stream}, sequence ${ack.seq}\n`);
      } catch (err) {
        throw new CliError(`NATS did not take the message on ${subject}: ${(err as Error).message}`);
      } finally {
        await nc.close();
      }
    });
}
