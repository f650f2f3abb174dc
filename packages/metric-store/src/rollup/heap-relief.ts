import { getHeapStatistics } from 'node:v8';

/** How much the heap may grow between two collections a rollup run asks for. */
const GROWTH_BYTES = 64 * 1024 * 1024;

let usedAfterLast = 0;

/**
 * A full garbage collection, between two exports of a rollup run, once the heap has grown by {@link GROWTH_BYTES}
 * since the last one. Reading a window of a million series back parses and drops about 600 MB of export text, and
 * V8 lets the old generation grow to several times what is live before it collects: the storage doubled its
 * resident memory during each read-back. Only where the process runs with `--expose-gc` (every service does, as
 * deploy/Dockerfile starts them); elsewhere it does nothing.
 */
export function relieveHeap(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc || getHeapStatistics().used_heap_size - usedAfterLast < GROWTH_BYTES) return;
  gc();
  usedAfterLast = getHeapStatistics().used_heap_size;
}
