import { useState } from 'preact/hooks';
import { ApiError } from '../api-client.ts';
import type { Alert } from '../api-types.ts';
import { useDashboard } from '../dashboard-context.ts';
import { parseTagFilter } from '../history-range.ts';

const DURATIONS = [
  { seconds: 3600, label: '1 hour' },
  { seconds: 4 * 3600, label: '4 hours' },
  { seconds: 86_400, label: '1 day' },
  { seconds: 7 * 86_400, label: '7 days' },
];

/** Creates a silence; from an alert, its labels (which carry `alertname`) are the pre-filled matchers. */
export function SilenceForm({ from, onDone }: { from: Alert | undefined; onDone: () => void }) {
  const { api } = useDashboard();
  const initial = from ? Object.entries(from.labels).map(([k, v]) => `${k}=${v}`).join(', ') : '';
  const [matchers, setMatchers] = useState(initial);
  const [duration, setDuration] = useState(3600);
  const [comment, setComment] = useState('');
  const [error, setError] = useState('');
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const { tags, errors } = parseTagFilter(matchers);
    if (errors.length) return setError(errors.join('; '));
    try {
      await api.post('/silences', { matchers: Object.entries(tags).map(([tag, value]) => ({ tag, op: '=', value })), duration, comment });
      onDone();
    } catch (err) {
      setError(err instanceof ApiError ? err.detail : String(err));
    }
  };
  return (
    <form class="card silence-form" onSubmit={submit} aria-labelledby="silence-form-title">
      <h2 id="silence-form-title">New silence{from ? ` for ${from.rule}` : ''}</h2>
      <label>
        Matchers (label=value, all must match)
        <input name="matchers" value={matchers} onInput={(e) => setMatchers(e.currentTarget.value)} required />
      </label>
      <label>
        Duration
        <select name="duration" value={duration} onChange={(e) => setDuration(Number(e.currentTarget.value))}>
          {DURATIONS.map((d) => (
            <option key={d.seconds} value={d.seconds}>
              {d.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Why
        <input name="comment" value={comment} onInput={(e) => setComment(e.currentTarget.value)} required maxLength={2000} />
      </label>
      <div class="actions">
        <button type="submit">Create silence</button>
        <button type="button" class="secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
      <p role="alert" class="error">
        {error}
      </p>
    </form>
  );
}
