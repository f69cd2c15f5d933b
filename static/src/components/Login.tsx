import { useState } from 'preact/hooks';
import { api, ApiError } from '../lib/api';
import type { User } from '../lib/types';

export function Login({ expired, onLogin }: { expired: boolean; onLogin: (u: User) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!username || !password) {
      setError('Enter your username and password.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r = await api.login(username.trim(), password);
      setPassword('');
      onLogin(r.user);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError('Wrong username or password. Check them and try again.');
      else if (err instanceof ApiError && err.status === 429) {
        setError(`Too many sign-in attempts. Wait ${err.retryAfter ? `${err.retryAfter} seconds` : 'a minute'} and try again.`);
      } else if (err instanceof ApiError && err.status === 0) setError('The server cannot be reached. Check your connection and try again.');
      else setError('Signing in failed because of a server problem. Try again in a moment.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="login-card" onSubmit={submit} aria-labelledby="login-title" noValidate>
        <h1 id="login-title">claude-web</h1>
        {expired && (
          <p class="notice-inline info" role="status">Your sign-in expired. Sign in again to continue; your unsent message is kept.</p>
        )}
        <label for="login-user">Username</label>
        <input id="login-user" name="username" autocomplete="username" autoFocus value={username}
          onInput={(e) => setUsername((e.target as HTMLInputElement).value)} />
        <label for="login-pass">Password</label>
        <input id="login-pass" name="password" type="password" autocomplete="current-password" value={password}
          onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        {error && <p class="form-error" role="alert">{error}</p>}
        <button type="submit" class="btn primary" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  );
}
