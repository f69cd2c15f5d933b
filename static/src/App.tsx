import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, setUnauthorizedHandler } from './lib/api';
import { clearAllDrafts } from './lib/format';
import { parseRoute, routePath, type Route } from './lib/route';
import type { Session, SessionStatus, User } from './lib/types';
import { explainError } from './lib/words';
import { Login } from './components/Login';
import { Sidebar } from './components/Sidebar';
import { SessionView } from './components/SessionView';
import { Toasts, type Toast } from './components/Toasts';
import { Icon } from './components/Icon';

const POLL_MS = 10_000;

export function App() {
  // undefined: still checking the cookie; null: signed out.
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [expired, setExpired] = useState(false);
  const [route, setRoute] = useState<Route>(() => parseRoute(location.pathname));
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [navOpen, setNavOpen] = useState(false);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const toastId = useRef(0);

  const toast = useCallback((t: Omit<Toast, 'id'>) => {
    const id = ++toastId.current;
    setToasts((ts) => [...ts.slice(-3), { ...t, id }]);
    setTimeout(() => setToasts((ts) => ts.filter((x) => x.id !== id)), t.level === 'error' ? 9000 : 4000);
  }, []);

  // ---- authentication -------------------------------------------------------
  useEffect(() => {
    setUnauthorizedHandler(() => {
      setUser((u) => {
        if (u) setExpired(true);
        return null;
      });
    });
    api.me().then(setUser).catch((e) => {
      if (e instanceof ApiError && e.status === 401) setUser(null);
      else {
        setUser(null);
        toast({ level: 'error', ...explainError(e, 'check your sign-in') });
      }
    });
    return () => setUnauthorizedHandler(null);
  }, [toast]);

  // The session drawer (phones): Escape closes it; focus goes into it.
  useEffect(() => {
    if (!navOpen) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setNavOpen(false);
    };
    document.addEventListener('keydown', onKey);
    (document.querySelector('.sidebar .session-link[aria-current], #new-session-btn') as HTMLElement | null)?.focus();
    return () => document.removeEventListener('keydown', onKey);
  }, [navOpen]);

  // ---- routing --------------------------------------------------------------
  useEffect(() => {
    const onPop = () => setRoute(parseRoute(location.pathname));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const navigate = useCallback((r: Route, replace = false) => {
    const path = routePath(r);
    if (path !== location.pathname) {
      if (replace) history.replaceState(null, '', path);
      else history.pushState(null, '', path);
    }
    setRoute(r);
    setNavOpen(false);
  }, []);

  // ---- the session list -------------------------------------------------------
  const loadSessions = useCallback(async () => {
    try {
      const r = await api.listSessions();
      setSessions(r.sessions);
      setNextCursor(r.next_cursor);
      setListError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      setListError(explainError(e, 'load your sessions').title);
    }
  }, []);

  const loadMore = useCallback(async () => {
    if (!nextCursor) return;
    try {
      const r = await api.listSessions(nextCursor);
      setSessions((s) => [...(s || []), ...r.sessions.filter((x) => !(s || []).some((y) => y.id === x.id))]);
      setNextCursor(r.next_cursor);
    } catch (e) {
      toast({ level: 'error', ...explainError(e, 'load more sessions') });
    }
  }, [nextCursor, toast]);

  useEffect(() => {
    if (!user) return;
    loadSessions();
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') loadSessions();
    }, POLL_MS);
    return () => clearInterval(t);
  }, [user, loadSessions]);

  // No session in the URL: open the newest one.
  useEffect(() => {
    if (user && sessions && sessions.length > 0 && route.sessionId === null) {
      navigate({ sessionId: sessions[0].id }, true);
    }
  }, [user, sessions, route.sessionId, navigate]);

  const onSessionChanged = useCallback((s: Session) => {
    setSessions((list) => {
      if (!list) return list;
      const i = list.findIndex((x) => x.id === s.id);
      if (i < 0) return [s, ...list];
      const copy = list.slice();
      copy[i] = { ...list[i], ...s };
      return copy;
    });
  }, []);

  const onStatus = useCallback((id: string, status: SessionStatus) => {
    setSessions((list) => {
      if (!list) return list;
      const i = list.findIndex((x) => x.id === id);
      if (i < 0 || list[i].status === status) return list;
      const copy = list.slice();
      copy[i] = { ...list[i], status, last_activity: new Date().toISOString() };
      return copy;
    });
  }, []);

  const onDeleted = useCallback((id: string) => {
    setSessions((list) => (list ? list.filter((x) => x.id !== id) : list));
    if (route.sessionId === id) navigate({ sessionId: null }, true);
  }, [route.sessionId, navigate]);

  const logout = useCallback(async () => {
    try {
      await api.logout();
    } catch {
      /* signed out locally either way */
    }
    clearAllDrafts();
    setExpired(false);
    setSessions(null);
    setUser(null);
  }, []);

  // "Sign out everywhere": every device's token ends, then this one signs out.
  const logoutAll = useCallback(async () => {
    try {
      await api.logoutAll();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) {
        toast({ level: 'error', ...explainError(e, 'sign out everywhere') });
        return;
      }
    }
    clearAllDrafts();
    setExpired(false);
    setSessions(null);
    setUser(null);
    toast({ level: 'info', title: 'Signed out on every device.' });
  }, [toast]);

  if (user === undefined) {
    return <div class="boot" role="status">Loading…</div>;
  }
  if (user === null) {
    return (
      <>
        <Login expired={expired} onLogin={(u) => { setUser(u); setExpired(false); }} />
        <Toasts toasts={toasts} />
      </>
    );
  }

  const current = sessions?.find((s) => s.id === route.sessionId) || null;
  return (
    <div class={`shell${navOpen ? ' nav-open' : ''}`}>
      <a class="skip-link" href="#composer-input">Skip to message box</a>
      <Sidebar
        user={user}
        sessions={sessions}
        error={listError}
        currentId={route.sessionId}
        hasMore={!!nextCursor}
        onLoadMore={loadMore}
        onSelect={(id) => navigate({ sessionId: id })}
        onCreated={(s) => { onSessionChanged(s); navigate({ sessionId: s.id }); }}
        onChanged={onSessionChanged}
        onDeleted={onDeleted}
        onLogout={logout}
        onLogoutAll={logoutAll}
        onClose={() => setNavOpen(false)}
        toast={toast}
      />
      <div class="nav-scrim" onClick={() => setNavOpen(false)} aria-hidden="true" />
      {route.sessionId ? (
        <SessionView
          key={route.sessionId}
          sessionId={route.sessionId}
          listed={current}
          user={user}
          onOpenNav={() => setNavOpen(true)}
          onChanged={onSessionChanged}
          onStatus={onStatus}
          onMissing={() => navigate({ sessionId: null }, true)}
          toast={toast}
        />
      ) : (
        <main class="empty-main">
          <header class="topbar">
            <button type="button" class="icon-btn nav-toggle" aria-label="Open the session list" onClick={() => setNavOpen(true)}><Icon name="menu" /></button>
            <h1 class="topbar-title">claude-web</h1>
          </header>
          <div class="empty-state">
            {sessions === null ? <p>Loading your sessions…</p> : (
              <>
                <h2>No session yet</h2>
                <p>Create a session to start working with Claude. Each session has its own files and conversation.</p>
                <p><button type="button" class="btn primary" onClick={() => document.getElementById('new-session-btn')?.click()}>New session</button></p>
              </>
            )}
          </div>
        </main>
      )}
      <Toasts toasts={toasts} />
    </div>
  );
}
