// pnpm nats:producer <name> [--rotate | --remove]
// Gives a game service (or any producer outside the suite) its own NATS credential: a new NKEY user whose public
// key goes into deploy/nats/producers.json and, re-rendered, into deploy/nats/permissions.conf and the k8s
// nats-config ConfigMaps. The seed, the producer's only secret, is printed once on stdout (everything else goes to
// stderr, so `pnpm -s nats:producer game-eu > game-eu.nk` keeps just the seed). The producer may publish
// metrics.ingest.<name> and events.<name>.> (core or JetStream) and read only its inbox _INBOX_<name>.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RESERVED_PRODUCER_NAMES, inboxSubscription, producerPermissions, shippedProducers } from './nats-permissions.ts';
import { PRODUCERS_FILE, newProducerKey, producerNameProblem, writeProducers, type Producer } from './producers.ts';
import { writeAll, writeNatsPermissions } from './render.ts';

export interface ProducerCommand {
  name: string;
  action: 'add' | 'rotate' | 'remove';
}

/** Applies one command to the producers list; returns the new list and, for add and rotate, the new seed. */
export function applyProducerCommand(current: readonly Producer[], cmd: ProducerCommand): { producers: Producer[]; seed?: string } {
  const problem = producerNameProblem(cmd.name, RESERVED_PRODUCER_NAMES);
  if (problem) throw new Error(problem);
  const existing = current.find((p) => p.name.toLowerCase() === cmd.name.toLowerCase());
  const others = current.filter((p) => p !== existing);
  if (cmd.action === 'remove') {
    if (!existing) throw new Error(`no producer ${cmd.name} in ${PRODUCERS_FILE}`);
    return { producers: others };
  }
  if (existing && cmd.action === 'add') throw new Error(`producer ${existing.name} exists; --rotate gives it a new key (the old seed stops working)`);
  if (!existing && cmd.action === 'rotate') throw new Error(`no producer ${cmd.name} to rotate; leave out --rotate to add it`);
  const { producer, seed } = newProducerKey(cmd.name);
  return { producers: [...others, producer], seed };
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { rotate: { type: 'boolean' }, remove: { type: 'boolean' } } });
  const [name] = positionals;
  if (!name || positionals.length > 1 || (values.rotate && values.remove)) {
    process.stderr.write('usage: pnpm nats:producer <name> [--rotate | --remove]\n');
    process.exit(2);
  }
  const action = values.remove ? 'remove' : values.rotate ? 'rotate' : 'add';
  let result: ReturnType<typeof applyProducerCommand>;
  try {
    result = applyProducerCommand(shippedProducers(), { name, action });
  } catch (err) {
    process.stderr.write(`nats:producer: ${(err as Error).message}\n`);
    process.exit(1);
  }
  writeProducers(result.producers);
  writeNatsPermissions();
  writeAll();
  const say = (line = '') => process.stderr.write(`${line}\n`);
  if (action === 'remove') {
    say(`Removed producer ${name} from ${PRODUCERS_FILE}, deploy/nats/permissions.conf and k8s/. Deploy the NATS configuration again (docs/deploy.md §4).`);
    return;
  }
  const permissions = producerPermissions(name);
  const producer = result.producers.find((p) => p.name === name)!;
  say(`Producer ${name}: NKEY user ${producer.nkey}`);
  say(`  written to ${PRODUCERS_FILE}, deploy/nats/permissions.conf and the k8s nats-config ConfigMaps (commit them).`);
  say(`  may publish: ${permissions.publish.join(', ')} (core or JetStream publish into INGEST)`);
  say(`  may read:    ${inboxSubscription(name)} only: connect with inboxPrefix "_INBOX_${name}"`);
  say('Its seed (below, on stdout) is shown once: keep it as the game service\'s secret (Kubernetes: a Secret in the');
  say(`game's namespace, e.g. kubectl create secret generic ${name}-nats --from-literal=NATS_NKEY_SEED=<seed>).`);
  say('nats.js: connect({ servers, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)), inboxPrefix }).');
  say('Then deploy the NATS configuration again (docs/deploy.md §4): Swarm renames the nats_permissions config,');
  say('Kubernetes rolls the NATS pods on kubectl apply -k (their config hash changed).');
  say();
  process.stdout.write(`${result.seed}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
