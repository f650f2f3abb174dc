/**
 * How long a service that answered discovery still counts as up for the suite's status when a round misses it:
 * discovery stops listening 150 ms after the last answer, and an instance on a busy host answers later, so the
 * public `/health` flapped to `degraded` with every service running.
 */
export const UP_FOR_MS = 5000;

/** The services seen up within the last UP_FOR_MS: what `GET /health` judges the suite by. */
export class RecentlyUp {
  private readonly lastUp = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Records the services up in this round of discovery; whether every one of `all` was up within UP_FOR_MS. */
  allUp(up: readonly string[], all: readonly string[]): boolean {
    const now = this.now();
    for (const name of up) this.lastUp.set(name, now);
    return all.every((name) => now - (this.lastUp.get(name) ?? -Infinity) <= UP_FOR_MS);
  }
}
