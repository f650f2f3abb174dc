/**
 * Runs `work` on each of `items`, `parallel` at a time. On a failure the other workers stop after the item in hand
 * and are waited for before the first failure is thrown: a restore that has thrown writes nothing more (its workers
 * went on writing, and the caller judged what was committed before they had).
 */
export async function eachInParallel<T>(items: readonly T[], parallel: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  let failed = false;
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined && !failed; next = queue.shift()) await work(next);
  };
  const outcomes = await Promise.allSettled(
    Array.from({ length: Math.max(1, parallel) }, () =>
      worker().catch((err: unknown) => {
        failed = true;
        throw err;
      }),
    ),
  );
  const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failure) throw failure.reason;
}
