import { useState } from 'preact/hooks';
import { ApiError } from '../api-client.ts';
import type { Alert } from '../api-types.ts';
import { useDashboard } from '../dashboard-context.ts';
import { formatTags, formatTime, formatValue } from '../format-value.ts';
import { hasRole } from '../session.ts';

/** One active alert, coloured by severity; operators and admins get acknowledge and silence actions. */
export function AlertCard({ alert, onSilence }: { alert: Alert; onSilence: (alert: Alert) => void }) {
  const { api, session } = useDashboard();
  const [acking, setAcking] = useState(false);
  const [comment, setComment] = useState('');
  const [error, setError] = useState('');
  const mayChange = hasRole(session.role, 'operator');
  const ack = async (event: SubmitEvent) => {
    event.preventDefault();
    setError('');
    try {
      await api.post(`/alerts/${alert.id}/ack`, comment.trim() ? { comment: comment.trim() } : {});
      // The live stream's `acknowledged` event updates the card; this closes the form meanwhile.
      setAcking(false);
    } catch (err) {
      setError(err instanceof ApiError ? err.detail : String(err));
    }
  };
  const commentId = `ack-comment-${alert.id}`;
  return (
    <li class={`alert-card sev-${alert.severity}`} data-alert-id={alert.id} data-rule={alert.rule} data-state={alert.state} data-acked={alert.ack ? 'yes' : 'no'}>
      <div class="alert-head">
        <span class={`badge sev-${alert.severity}`}>{alert.severity}</span>
        <strong>{alert.rule}</strong>
        <span class="state">{alert.state}</span>
        <span class="muted">since {formatTime(alert.firedAt ?? alert.startsAt)}</span>
      </div>
      <p>{alert.summary || alert.message}</p>
      <p class="muted">
        value {formatValue(alert.value)} · {formatTags(alert.labels)}
      </p>
      {alert.ack && (
        <p class="ack-note">
          Acknowledged by {alert.ack.by} at {formatTime(alert.ack.at)}
          {alert.ack.comment ? `: “${alert.ack.comment}”` : ''}
        </p>
      )}
      {mayChange && (
        <div class="actions">
          {!alert.ack && !acking && (
            <button type="button" class="ack" onClick={() => setAcking(true)}>
              Acknowledge
            </button>
          )}
          <button type="button" class="secondary" onClick={() => onSilence(alert)}>
            Silence…
          </button>
        </div>
      )}
      {mayChange && acking && (
        <form class="ack-form" onSubmit={ack}>
          <label for={commentId}>Comment</label>
          <textarea id={commentId} name="comment" rows={2} maxLength={2000} value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
          <div class="actions">
            <button type="submit">Confirm acknowledge</button>
            <button type="button" class="secondary" onClick={() => setAcking(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </li>
  );
}
