/**
 * Runs `work` every `intervalMs`, never two at once (a run that outlasts the interval skips the ticks it covers);
 * a failure goes to `onError` and the next tick runs again. The stop waits for a run in progress.
 */
export function repeatEvery(intervalMs: number, work: () => Promise<unknown>, onError: (err: unknown) => void): { stop(): Promise<void> } {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    running ??= work()
      .catch(onError)
      .finally(() => (running = undefined));
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
