import { useState } from 'preact/hooks';
import { ApiError } from '../api-client.ts';
import { login } from '../auth-api.ts';
import type { Session } from '../session.ts';

/** The sign-in form; `onSignedIn` gets the new session. */
export function SignInPage({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError('');
    try {
      onSignedIn(await login(String(form.get('username')), String(form.get('password'))));
    } catch (err) {
      setError(err instanceof ApiError ? err.detail : 'the gateway cannot be reached');
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <form class="card" onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Terminusa Monitoring</h1>
        <label>
          Username
          <input name="username" autocomplete="username" required autofocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p role="alert" class="error">
          {error}
        </p>
      </form>
    </main>
  );
}
