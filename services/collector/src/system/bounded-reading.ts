/**
 * A reading that may hang (`df` on a hung NFS mount, inside systeminformation's fsSize), bounded: given up after
 * `timeoutMs` with `fallback`, and not started again while the one given up still hangs, so a hung mount costs one
 * process and its metrics, not the whole collection of every interval and a process per interval.
 */
export function boundedReading<T>(read: () => Promise<T>, timeoutMs: number, fallback: T): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return async () => {
    pending ??= read().finally(() => {
      pending = undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<T>((resolve) => {
      timer = setTimeout(() => resolve(fallback), timeoutMs);
    });
    try {
      return await Promise.race([pending, givenUp]);
    } finally {
      clearTimeout(timer);
    }
  };
}
