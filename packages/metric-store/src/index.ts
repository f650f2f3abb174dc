export { PgSampleStore } from './pg-sample-store.ts';
export type { SeriesPoints } from './pg-sample-store.ts';
export { RedisCurrentStore } from './redis-current-store.ts';
export type { CurrentValue } from './redis-current-store.ts';
export { seriesKey, sortTags, matchesTags } from './series-key.ts';
