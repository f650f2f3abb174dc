import type { DiscoveredInstance } from '@terminusa/runtime';

/**
 * How long an instance that answered discovery still counts as live when it misses a round: discovery stops listening
 * 150 ms after the last answer, and an instance on a busy host answers later, so the public `/health` flapped to
 * `degraded` with every service running.
 */
export const SEEN_FOR_MS = 5000;

/** The instances that answered discovery within the last SEEN_FOR_MS, each as it answered last. */
export class LiveInstances {
  private readonly seen = new Map<string, { at: number; instance: DiscoveredInstance }>();

  constructor(
    private readonly discover: () => Promise<DiscoveredInstance[]>,
    private readonly now: () => number = Date.now,
  ) {}

  async list(): Promise<DiscoveredInstance[]> {
    const answered = await this.discover().catch(() => []);
    const at = this.now();
    for (const instance of answered) this.seen.set(`${instance.service}\u0000${instance.id}`, { at, instance });
    for (const [key, last] of this.seen) if (at - last.at > SEEN_FOR_MS) this.seen.delete(key);
    return [...this.seen.values()].map((s) => s.instance).sort((a, b) => a.service.localeCompare(b.service) || a.instance.localeCompare(b.instance));
  }
}
