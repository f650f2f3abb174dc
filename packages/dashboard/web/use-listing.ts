import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api-client.ts';
import { useDashboard } from './dashboard-context.ts';

/** A list read from the gateway, and a way to run changes that reads it again and reports their failure. */
export interface Listing<T> {
  items: T[];
  /** The last failure, as the gateway's problem detail; empty when the last call went well. */
  error: string;
  /** Runs a change; on success the list is read again. Resolves whether it went well. */
  act(call: () => Promise<unknown>): Promise<boolean>;
}

/** The list at `path` (GET), the array under `key` of its answer; read again when `reloadOn` changes. */
export function useListing<T>(path: string, key: string, reloadOn: unknown = 0): Listing<T> {
  const { api } = useDashboard();
  const [items, setItems] = useState<T[]>([]);
  const [error, setError] = useState('');
  const [version, setVersion] = useState(0);
  useEffect(() => {
    api
      .get<Record<string, T[]>>(path)
      .then((answer) => setItems(answer[key] ?? []))
      .catch((err: unknown) => setError(describe(err)));
  }, [api, path, key, version, reloadOn]);
  const act = async (call: () => Promise<unknown>) => {
    try {
      await call();
      setError('');
      setVersion((v) => v + 1);
      return true;
    } catch (err) {
      setError(describe(err));
      return false;
    }
  };
  return { items, error, act };
}

function describe(err: unknown): string {
  return err instanceof ApiError ? err.detail : err instanceof Error ? err.message : String(err);
}
