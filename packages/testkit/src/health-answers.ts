/** Whether the server at `base` answers its `/health` with a success within a second (nothing listening: false). */
export async function healthAnswers(base: string): Promise<boolean> {
  return (await fetch(`${base}/health`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined))?.ok === true;
}
