/** Runs `task` on every item with at most `limit` running at once; rejects with the first failure once all have settled. */
export async function processConcurrently<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const failures: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await task(item);
      } catch (err) {
        failures.push(err);
      }
    }
  };
  // Every task is waited for even after a failure, so nothing is still writing when the batch is nak'd.
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures[0];
}
