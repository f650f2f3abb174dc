/** Flags for Debian's Chromium headless in a container: no sandbox, no GPU, nothing fetched in the background. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/**
 * How long a page may take to show what a step expects, where the test checks what it shows, not how fast: in CI
 * every test file runs at once on two cores, and a page that needed 10 s there once failed a test.
 */
export const SETTLE_MS = 25_000;
