import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CALLS, CONSUMERS, SUBJECTS } from '@terminusa/bus';
import { NATS_NEEDS, natsPermissions, producerPermissions } from './nats-permissions.ts';

// The tables of docs/architecture.md that restate the code (subjects, calls, packages), rendered from it, so the
// page cannot drift from the subject map, the NATS needs and the package manifests; `pnpm docs:render` writes them
// and a test fails while the page differs.

/** The repository root. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The architecture page whose generated blocks this renders. */
export const ARCHITECTURE_DOC = join(ROOT, 'docs', 'architecture.md');

type Services = keyof typeof NATS_NEEDS;
const SERVICES = Object.keys(NATS_NEEDS) as Services[];

/** The parts of a zod schema this reads: zod 4 keeps a schema's shape in `_zod.def`. */
interface ZodDef {
  type: string;
  shape?: Record<string, { _zod: { def: ZodDef } }>;
  innerType?: { _zod: { def: ZodDef } };
  element?: { _zod: { def: ZodDef } };
  in?: { _zod: { def: ZodDef } };
  options?: { _zod: { def: ZodDef } }[];
  entries?: Record<string, string>;
  values?: unknown[];
}

const defOf = (schema: unknown): ZodDef => (schema as { _zod: { def: ZodDef } })._zod.def;

/** A schema as a line of fields: `{name, value, ts?, tags?}`, enums as `a\|b`, nested objects one level deep. */
export function describeSchema(schema: unknown, depth = 0): string {
  const def = defOf(schema);
  switch (def.type) {
    case 'object': {
      // Nested objects are spelled out while short; a long one (an alert inside an event) would drown the row.
      if (depth > 1 || (depth > 0 && Object.keys(def.shape ?? {}).length > 4)) return '{…}';
      const fields = Object.entries(def.shape ?? {}).map(([name, field]) => {
        const inner = defOf(field);
        const optional = inner.type === 'optional' || inner.type === 'default';
        const shown = describeSchema(optional ? inner.innerType : field, depth + 1);
        return `${name}${optional ? '?' : ''}${shown ? `: ${shown}` : ''}`;
      });
      return `{${fields.join(', ')}}`;
    }
    case 'optional':
    case 'default':
    case 'nullable':
      return describeSchema(def.innerType, depth);
    case 'pipe':
      return describeSchema(def.in, depth);
    case 'array': {
      const element = describeSchema(def.element, depth);
      return `${element || 'item'}[]`;
    }
    case 'enum':
      return Object.values(def.entries ?? {}).join('\\|');
    case 'literal':
      return (def.values ?? []).map((v) => JSON.stringify(v)).join('\\|');
    case 'union':
      return (def.options ?? []).map((o) => describeSchema(o, depth)).join(' or ');
    default:
      // Scalars (string, number, boolean, unknown) are named by their field alone.
      return '';
  }
}

/** Whether two NATS subjects with wildcards can name the same subject. */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === '>' || y[i] === '>') return true;
    if (x[i] === undefined || y[i] === undefined) return false;
    if (x[i] !== '*' && y[i] !== '*' && x[i] !== y[i]) return false;
  }
  return true;
}

const code = (text: string) => `\`${text}\``;
const list = (items: string[]) => (items.length ? items.join('; ') : '—');

/** Who publishes a subject: the services whose NATS needs name it (with their sources), and producers when theirs may. */
function publishersOf(key: keyof typeof SUBJECTS): string[] {
  const filter = SUBJECTS[key].filter;
  const services = SERVICES.flatMap((service) => {
    const uses = NATS_NEEDS[service].publishes.filter((p) => p.subject === key);
    if (!uses.length) return [];
    const params = uses.flatMap((p) => (p.params ? [p.params.join('.')] : []));
    return [params.length === uses.length ? `${service} (${params.map(code).join(', ')})` : service];
  });
  const producers = producerPermissions('game').publish.some((p) => subjectsOverlap(p, filter)) ? ['game services (producers)'] : [];
  return [...producers, ...services];
}

const EVERY_INSTANCE = 'every service instance (request/reply)';

/** Who reads a subject: durable consumers (JetStream), and the services whose permissions let them subscribe (core). */
function readersOf(key: keyof typeof SUBJECTS): string[] {
  const filter = SUBJECTS[key].filter;
  const durable = SERVICES.flatMap((service) =>
    NATS_NEEDS[service].consumes.filter((c) => subjectsOverlap(CONSUMERS[c].filter, filter) && CONSUMERS[c].stream === SUBJECTS[key].stream).map((c) => `${service} (durable ${code(c)})`),
  );
  const core = SERVICES.filter((service) =>
    natsPermissions(service)
      .subscribe.filter((s) => !s.startsWith('_INBOX') && !s.startsWith('$SRV'))
      .some((s) => subjectsOverlap(s, filter)),
  );
  const every = core.length === SERVICES.length ? [EVERY_INSTANCE] : core.map((s) => `${s} (core subscription)`);
  return [...durable, ...every];
}

/** `metrics.ingest.<source>`: the subject with its parameters named, from its builder's parameter names. */
function subjectPattern(build: (...params: string[]) => string): string {
  // The builder's own parameter names (`(source, type) => …`) name the placeholders, so they are written once.
  const params = /^\(?([^)=]*)\)?\s*=>/.exec(build.toString())?.[1] ?? '';
  const names = params.split(',').map((p) => p.trim().replace(/:.*$/, '')).filter(Boolean);
  return build(...names.map((n) => `<${n}>`));
}

/** The subject table: every subject of `SUBJECTS` with its schema, publishers, readers and transport. */
export function renderSubjectTable(): string {
  const rows = (Object.keys(SUBJECTS) as (keyof typeof SUBJECTS)[]).map((key) => {
    const def = SUBJECTS[key];
    const transport = def.stream ? `JetStream ${code(def.stream)}` : 'core';
    const readers = readersOf(key);
    const publishers = publishersOf(key);
    // A subject every instance subscribes to and none publishes is asked: its publishers are whoever requests.
    if (!publishers.length && readers.includes(EVERY_INSTANCE)) publishers.push('any client (request)');
    return `| ${code(subjectPattern(def.build as (...p: string[]) => string))} | ${code(key)} ${code(describeSchema(def.schema))} | ${list(publishers)} | ${list(readers)} | ${transport} |`;
  });
  return ['| Subject | `SUBJECTS` key and schema | Published by | Read by | Transport |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** The call table: every request/reply call of `CALLS` with its request and reply, callers and the serving group. */
export function renderCallTable(): string {
  const rows = (Object.keys(CALLS) as (keyof typeof CALLS)[]).map((key) => {
    const def = CALLS[key];
    const callers = SERVICES.filter((s) => NATS_NEEDS[s].calls.includes(key));
    const servers = SERVICES.filter((s) => NATS_NEEDS[s].serves.includes(key));
    return `| ${code(def.subject)} | ${code(key)} | ${code(describeSchema(def.request))} | ${code(describeSchema(def.reply))} | ${list(callers)} | ${list(servers.map((s) => `${s} (queue group ${code(s)})`))} |`;
  });
  return ['| Subject | `CALLS` key | Request | Reply | Called by | Served by |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

/** The package table: every workspace package with its manifest's description and the workspace packages it uses. */
export function renderPackageTable(root = ROOT): string {
  const rows = ['packages', 'services'].flatMap((dir) =>
    readdirSync(join(root, dir))
      .sort()
      .map((name) => {
        const manifest = JSON.parse(readFileSync(join(root, dir, name, 'package.json'), 'utf8')) as { name: string; description?: string; dependencies?: Record<string, string> };
        const uses = Object.keys(manifest.dependencies ?? {}).filter((d) => d.startsWith('@terminusa/'));
        return `| [${code(manifest.name)}](../${dir}/${name}/README.md) | ${manifest.description ?? '—'} | ${uses.length ? uses.map(code).join(', ') : '—'} |`;
      }),
  );
  return ['| Package | Its one job | Uses |', '|---|---|---|', ...rows].join('\n');
}

/** The generated blocks of the architecture page, by the name in their markers. */
export function architectureTables(root = ROOT): Record<string, string> {
  return { packages: renderPackageTable(root), subjects: renderSubjectTable(), calls: renderCallTable() };
}

/**
 * `text` with each block between `<!-- generated:<name> -->` and `<!-- end:<name> -->` replaced by its rendering;
 * a missing marker is an error, so a renamed heading cannot silently stop the check.
 */
export function renderArchitectureDoc(text: string, tables: Record<string, string> = architectureTables()): string {
  let out = text;
  for (const [name, table] of Object.entries(tables)) {
    const start = `<!-- generated:${name} (pnpm docs:render) -->`;
    const end = `<!-- end:${name} -->`;
    const from = out.indexOf(start);
    const to = out.indexOf(end);
    if (from < 0 || to < from) throw new Error(`docs/architecture.md has no ${start} … ${end} block`);
    out = `${out.slice(0, from + start.length)}\n${table}\n${out.slice(to)}`;
  }
  return out;
}

/** Rewrites the generated blocks of docs/architecture.md; returns whether the page changed. */
export function writeArchitectureDoc(file = ARCHITECTURE_DOC): boolean {
  const text = readFileSync(file, 'utf8');
  const rendered = renderArchitectureDoc(text);
  if (rendered !== text) writeFileSync(file, rendered);
  return rendered !== text;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(writeArchitectureDoc() ? `rewrote the generated tables of ${ARCHITECTURE_DOC}\n` : 'docs/architecture.md is up to date\n');
}
