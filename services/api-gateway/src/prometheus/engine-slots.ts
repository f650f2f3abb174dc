/**
 * At most `size` engine calls of this gateway at once; the others wait their turn, first come first served, until
 * their caller gives up. The engine runs few searches at once (the single node: 4 on 2 cores) and refuses the rest
 * after a wait, and the alert-manager's PromQL rules and the storage's exports need them too: a few heavy Grafana
 * queries of one viewer took every one of them, and the rules' evaluations failed (alerting blind) while they ran.
 */
export class EngineSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  /** Waits for a slot (rejecting with the signal's reason if it aborts first); call the returned function once done. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.free > 0) this.free--;
    else {
      await new Promise<void>((resolve, reject) => {
        const turn = () => {
          signal.removeEventListener('abort', gone);
          resolve();
        };
        const gone = () => {
          this.waiting.splice(this.waiting.indexOf(turn), 1);
          reject(signal.reason as Error);
        };
        this.waiting.push(turn);
        signal.addEventListener('abort', gone, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Handed straight to the next in line, so a newcomer never overtakes one that waited.
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
