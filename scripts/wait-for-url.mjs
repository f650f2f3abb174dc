// Waits (up to 60 s) until a URL answers 2xx, so a service starts only once the engine it needs is up.
const url = process.argv[2];
const deadline = Date.now() + 60_000;
for (;;) {
  try {
    if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) process.exit(0);
  } catch {
    // not up yet
  }
  if (Date.now() > deadline) {
    process.stderr.write(`${url} did not answer within 60 s\n`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 250));
}
