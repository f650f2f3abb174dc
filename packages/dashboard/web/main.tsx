import { render } from 'preact';
import { App } from './app.tsx';
import { refreshToken } from './auth-api.ts';
import { SessionStore } from './session.ts';

const sessions = new SessionStore(refreshToken);
render(<App sessions={sessions} />, document.getElementById('app')!);
