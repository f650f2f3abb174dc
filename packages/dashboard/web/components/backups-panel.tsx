import { useState } from 'preact/hooks';
import type { BackupSummary } from '../api-types.ts';
import { useDashboard } from '../dashboard-context.ts';
import { formatTime, formatValue } from '../format-value.ts';
import { useListing } from '../use-listing.ts';

/** Backups: list, start one now, verify one (`/backups`, admin only; each a call to the backup service). */
export function BackupsPanel() {
  const { api } = useDashboard();
  const [reload, setReload] = useState(0);
  const { items: backups, error, act } = useListing<BackupSummary>('/backups', 'backups', reload);
  const [kind, setKind] = useState<'full' | 'incremental'>('full');
  const [status, setStatus] = useState('');
  // The status line says what is under way, then what came of it; a failure shows as the listing's error.
  const run = async (what: string, call: () => Promise<string>) => {
    setStatus(`${what}…`);
    let outcome = '';
    await act(async () => {
      outcome = await call();
    });
    setStatus(outcome);
  };
  const start = () => run(`starting a ${kind} backup`, async () => `backup queued as job ${(await api.post<{ jobId: string }>('/backups', { kind })).jobId}`);
  const verify = (id: string) =>
    run(`verifying ${id}`, async () => {
      const r = await api.post<{ chunks: number; rows: number; bytes: number }>(`/backups/${id}/verify`);
      return `${id} verified: ${r.chunks} chunks, ${r.rows} rows, ${formatValue(r.bytes, 'bytes')}`;
    });
  return (
    <section class="card" aria-labelledby="backups-title">
      <h2 id="backups-title">Backups</h2>
      <div class="inline-form">
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value as 'full' | 'incremental')}>
            <option value="full">full</option>
            <option value="incremental">incremental</option>
          </select>
        </label>
        <button type="button" onClick={() => void start()}>
          Start backup
        </button>
        <button type="button" class="secondary" onClick={() => setReload((r) => r + 1)}>
          Reload list
        </button>
      </div>
      <p role="status">{status}</p>
      <p role="alert" class="error">
        {error}
      </p>
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">id</th>
              <th scope="col">kind</th>
              <th scope="col">created</th>
              <th scope="col">rows</th>
              <th scope="col">size</th>
              <th scope="col">action</th>
            </tr>
          </thead>
          <tbody>
            {backups.map((b) => (
              <tr key={b.id} class={b.damaged ? 'damaged' : ''}>
                <th scope="row">{b.id}</th>
                <td>{b.kind}</td>
                <td>{formatTime(Date.parse(b.createdAt))}</td>
                <td>{formatValue(b.rows)}</td>
                <td>{formatValue(b.bytes, 'bytes')}</td>
                <td>
                  {b.damaged ? (
                    <span class="error">damaged: {b.damaged}</span>
                  ) : (
                    <button type="button" class="secondary" onClick={() => void verify(b.id)}>
                      Verify
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {backups.length === 0 && !error && <p class="muted">No backups yet.</p>}
    </section>
  );
}
