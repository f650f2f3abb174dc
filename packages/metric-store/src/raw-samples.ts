/**
 * SQL of the raw samples `(series_id, ts, value)` whose series matches `series` (the right side of
 * `series_id = …`: a column, or `ANY($1::bigint[])`) from `start` to `end` (timestamptz expressions; `end` is
 * exclusive unless `endInclusive`). A block holds the samples of one series in one minute, so one holding a
 * sample at or after `start` begins less than a minute before it: that bound lets the (series_id, ts_min) index
 * and the partitions narrow the blocks read before any is unpacked.
 */
export function rawSamplesSql(series: string, start: string, end: string, endInclusive = false): string {
  const before = endInclusive ? '<=' : '<';
  start = `(${start})::timestamptz`;
  end = `(${end})::timestamptz`;
  // One unnest and a subscript: unnest of two arrays at once ran the unpacking twice as slow.
  return `SELECT b.series_id, u.ts, b.value[u.i] AS value FROM sample_blocks b CROSS JOIN LATERAL unnest(b.ts) WITH ORDINALITY AS u(ts, i)
     WHERE b.series_id = ${series} AND b.ts_min > ${start} - interval '1 minute' AND b.ts_min ${before} ${end}
       AND u.ts >= ${start} AND u.ts ${before} ${end}`;
}
