import type { Command } from 'commander';
import { z } from 'zod';
import { printResult, withFormatOptions, type CommandContext, type FormatOptions } from '../command-context.ts';
import { CliError } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';
import { formatJson, formatTable } from '../output.ts';

const Instance = z.looseObject({
  instance: z.string(),
  host: z.string(),
  opsPort: z.number(),
  version: z.string(),
  started: z.string(),
  endpoints: z.array(z.object({ name: z.string(), requests: z.number(), errors: z.number(), averageProcessingMs: z.number() })),
});
const Services = z.record(z.string(), z.object({ instances: z.number(), status: z.string(), live: z.array(Instance) }));
const ServicesAnswer = z.object({ services: Services });
const HealthAnswer = z.looseObject({
  status: z.string(),
  dependencies: z.record(z.string(), z.looseObject({ ok: z.boolean(), latencyMs: z.number().optional(), error: z.string().optional() })),
  services: Services,
});

/** `tmon services` and `tmon health`. */
export function registerServiceCommands(program: Command, ctx: CommandContext): void {
  withFormatOptions(program.command('services').description('instances discovered on NATS, with their request statistics (GET /services)')).action(async (opts: FormatOptions) => {
    const answer = await (await ctx.client()).get('/services', ServicesAnswer);
    printResult(ctx, opts, answer, () => ({
      headers: ['service', 'instance', 'host', 'ops port', 'version', 'started', 'requests', 'errors'],
      rows: Object.entries(answer.services).flatMap(([name, s]) =>
        s.live.length
          ? s.live.map((i) => [name, i.instance, i.host, String(i.opsPort), i.version, i.started, String(i.endpoints.reduce((n, e) => n + e.requests, 0)), String(i.endpoints.reduce((n, e) => n + e.errors, 0))])
          : [[name, '(none running)', '', '', '', '', '', '']],
      ),
    }));
  });

  program
    .command('health')
    .description('the gateway\'s dependencies and every service\'s instances (GET /health/details, signed in); exit 1 unless ok')
    .option('--json', 'print the gateway\'s answer as JSON')
    .action(async (opts: { json?: boolean }) => {
      const answer = await (await ctx.client()).get('/health/details', HealthAnswer, { answers: [503] });
      if (opts.json) ctx.out(formatJson(answer));
      else {
        ctx.out(`status: ${answer.status}\n\n`);
        ctx.out(
          formatTable({
            headers: ['dependency', 'ok', 'latency', 'error'],
            rows: Object.entries(answer.dependencies).map(([name, d]) => [name, d.ok ? 'yes' : 'no', d.latencyMs === undefined ? '' : `${Math.round(d.latencyMs)} ms`, d.error ?? '']),
          }),
        );
        ctx.out('\n');
        ctx.out(formatTable({ headers: ['service', 'status', 'instances'], rows: Object.entries(answer.services).map(([name, s]) => [name, s.status, String(s.instances)]) }));
      }
      if (answer.status !== 'ok') throw new CliError(`the suite is ${answer.status}`, EXIT.failure);
    });
}
