import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api-client.ts';
import type { HistoryAnswer } from '../api-types.ts';
import { HistoryChart } from '../charts/history-chart.tsx';
import { useDashboard } from '../dashboard-context.ts';
import { formatTags, formatValue } from '../format-value.ts';
import { HISTORY_RANGES, parseTagFilter } from '../history-range.ts';

const AGGS = ['avg', 'min', 'max', 'sum'] as const;

/** Metric names matching what is typed, from `GET /metrics/names`, for the search box's suggestions. */
function useMetricNames(query: string): string[] {
  const { api } = useDashboard();
  const [names, setNames] = useState<string[]>([]);
  useEffect(() => {
    let stale = false;
    // Asked after a short pause in typing, not on every key.
    const timer = setTimeout(() => {
      api
        .get<{ names: string[] }>(`/metrics/names?limit=50${query ? `&q=${encodeURIComponent(query)}` : ''}`)
        .then((a) => !stale && setNames(a.names))
        .catch((err: Error) => console.warn('metric names:', err.message));
    }, 150);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [api, query]);
  return names;
}

/** The explorer: a metric, tag filters, a time range and an aggregation, drawn from `/metrics/history`. */
export function ExplorerPage() {
  const { api } = useDashboard();
  const [name, setName] = useState('');
  const [tagText, setTagText] = useState('');
  const [rangeId, setRangeId] = useState('15m');
  const [agg, setAgg] = useState('');
  const [answer, setAnswer] = useState<HistoryAnswer | undefined>();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const names = useMetricNames(name);

  const draw = async (event: SubmitEvent) => {
    event.preventDefault();
    const range = HISTORY_RANGES.find((r) => r.id === rangeId)!;
    const { tags, errors } = parseTagFilter(tagText);
    if (errors.length) return setError(errors.join('; '));
    const to = Date.now();
    const params = new URLSearchParams({ name: name.trim(), from: String(to - range.ms), to: String(to) });
    if (range.step) params.set('step', range.step);
    if (agg) params.set('agg', agg);
    for (const [k, v] of Object.entries(tags)) params.set(`tag.${k}`, v);
    setBusy(true);
    setError('');
    try {
      setAnswer(await api.get<HistoryAnswer>(`/metrics/history?${params}`));
    } catch (err) {
      setAnswer(undefined);
      setError(err instanceof ApiError ? err.detail : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="page explorer" aria-labelledby="explorer-title">
      <h1 id="explorer-title">Explorer</h1>
      <form class="card query" onSubmit={draw}>
        <label>
          Metric
          <input name="metric" type="search" list="metric-names" value={name} onInput={(e) => setName(e.currentTarget.value)} required placeholder="search, e.g. system_cpu" autocomplete="off" />
          <datalist id="metric-names">
            {names.map((n) => (
              <option key={n} value={n} />
            ))}
          </datalist>
        </label>
        <label>
          Tag filters
          <input name="tags" value={tagText} onInput={(e) => setTagText(e.currentTarget.value)} placeholder="host=web-1, region=eu" />
        </label>
        <label>
          Time range
          <select name="range" value={rangeId} onChange={(e) => setRangeId(e.currentTarget.value)}>
            {HISTORY_RANGES.map((r) => (
              <option key={r.id} value={r.id}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Aggregation
          <select name="agg" value={agg} onChange={(e) => setAgg(e.currentTarget.value)}>
            <option value="">each series (avg per bucket)</option>
            {AGGS.map((a) => (
              <option key={a} value={a}>
                {a} of all series
              </option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={busy}>
          {busy ? 'Loading…' : 'Draw'}
        </button>
      </form>
      <p role="alert" class="error">
        {error}
      </p>
      {answer && (
        <section class="card" aria-label="history">
          {answer.series.length === 0 ? <p class="muted">No points of {answer.name} in this range.</p> : <HistoryChart answer={answer} />}
          <table class="series-table">
            <caption>Series</caption>
            <thead>
              <tr>
                <th scope="col">tags</th>
                <th scope="col">points</th>
                <th scope="col">last value</th>
              </tr>
            </thead>
            <tbody>
              {answer.series.map((s) => (
                <tr key={formatTags(s.tags)}>
                  <td>{formatTags(s.tags)}</td>
                  <td>{s.points.length}</td>
                  <td>{formatValue(s.points.at(-1)?.[1])}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </main>
  );
}
