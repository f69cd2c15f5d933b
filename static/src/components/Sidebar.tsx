import { useEffect, useRef, useState } from 'preact/hooks';
import { api, urls } from '../lib/api';
import { relativeTime } from '../lib/format';
import type { PermissionMode, Session, User } from '../lib/types';
import { explainError } from '../lib/words';
import { ConfirmDialog, Dialog } from './Dialog';
import { StatusBadge } from './StatusBadge';
import type { ToastFn } from './Toasts';
import { Icon } from './Icon';
import type { SessionMatch } from '../lib/types';

export const MODES: Array<{ value: PermissionMode; label: string; hint: string }> = [
  { value: 'default', label: 'Ask before acting', hint: 'Claude asks before running commands or changing files.' },
  { value: 'acceptEdits', label: 'Accept edits', hint: 'File edits are applied without asking; commands still ask.' },
  { value: 'plan', label: 'Plan only', hint: 'Claude reads and plans but changes nothing.' },
  { value: 'bypassPermissions', label: 'Never ask', hint: 'Everything runs without asking. Use with care.' },
];

interface Props {
  user: User;
  sessions: Session[] | null;
  error: string | null;
  currentId: string | null;
  hasMore: boolean;
  onLoadMore: () => void;
  onSelect: (id: string) => void;
  onCreated: (s: Session) => void;
  onChanged: (s: Session) => void;
  onDeleted: (id: string) => void;
  onLogout: () => void;
  /** Signs the account out on every device; resolves when done. */
  onLogoutAll: () => Promise<void> | void;
  onClose: () => void;
  toast: ToastFn;
}

export function Sidebar(p: Props) {
  const [creating, setCreating] = useState(false);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Session | null>(null);
  const [busy, setBusy] = useState(false);
  const [everywhere, setEverywhere] = useState(false);
  const [, tick] = useState(0);
  // Search over titles and message texts (GET /api/sessions?q=), debounced.
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<{ q: string; sessions: SessionMatch[]; partial: boolean } | null>(null);
  const [searchError, setSearchError] = useState<string | null>(null);
  const q = query.trim();
  useEffect(() => {
    if (q === '') {
      setFound(null);
      setSearchError(null);
      return;
    }
    let gone = false;
    const t = setTimeout(() => {
      api.searchSessions(q).then((r) => {
        if (gone) return;
        setFound({ q, sessions: r.sessions || [], partial: !!r.partial });
        setSearchError(null);
      }).catch((e) => {
        if (!gone) setSearchError(explainError(e, 'search').title);
      });
    }, 250);
    return () => { gone = true; clearTimeout(t); };
  }, [q]);

  // "5 min ago" stays true.
  useEffect(() => {
    const t = setInterval(() => tick((n) => n + 1), 30_000);
    return () => clearInterval(t);
  }, []);

  const doDelete = async () => {
    if (!deleting) return;
    setBusy(true);
    try {
      await api.deleteSession(deleting.id);
      p.onDeleted(deleting.id);
      p.toast({ level: 'info', title: `Deleted “${deleting.title || 'Untitled'}”.` });
      setDeleting(null);
    } catch (e) {
      p.toast({ level: 'error', ...explainError(e, 'delete the session') });
    } finally {
      setBusy(false);
    }
  };

  return (
    <nav class="sidebar" aria-label="Sessions">
      <div class="sidebar-head">
        <span class="brand">claude-web</span>
        <button type="button" class="icon-btn nav-close" aria-label="Close the session list" onClick={p.onClose}><Icon name="close" /></button>
      </div>
      <button type="button" id="new-session-btn" class="btn primary new-session" onClick={() => setCreating(true)}>
        + New session
      </button>
      <div class="session-search" role="search">
        <label for="session-search" class="sr-only">Search sessions</label>
        <input id="session-search" type="search" placeholder="Search titles and messages" value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => { if (e.key === 'Escape') setQuery(''); }} />
      </div>
      {q !== '' && (
        <ul class="session-list search-results" aria-label="Search results" aria-busy={found?.q !== q}>
          {searchError && <li class="sidebar-error pad" role="alert">{searchError}</li>}
          {!searchError && found === null && <li class="muted pad">Searching…</li>}
          {found?.sessions.length === 0 && <li class="muted pad">No session matches “{found.q}”.</li>}
          {found?.sessions.map((s) => (
            <li key={s.id} class={`session-item${s.id === p.currentId ? ' current' : ''}`}>
              <a class="session-link" href={`/sessions/${encodeURIComponent(s.id)}`}
                onClick={(e) => {
                  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
                  e.preventDefault();
                  p.onSelect(s.id);
                }}>
                <span class="session-title">{s.title || 'Untitled'}</span>
                {s.match?.in === 'message' && <span class="session-snippet">{s.match.snippet}</span>}
              </a>
            </li>
          ))}
          {found?.partial && <li class="muted pad">Only the newest sessions were searched.</li>}
        </ul>
      )}
      {p.error && <p class="sidebar-error" role="alert">{p.error}</p>}
      <ul class="session-list" hidden={q !== ''}>
        {p.sessions === null && <li class="muted pad">Loading…</li>}
        {p.sessions?.length === 0 && <li class="muted pad">No sessions yet.</li>}
        {p.sessions?.map((s) => (
          <li key={s.id} class={`session-item${s.id === p.currentId ? ' current' : ''}`}>
            {renaming === s.id ? (
              <RenameField session={s} onDone={(updated) => {
                setRenaming(null);
                if (updated) p.onChanged(updated);
              }} toast={p.toast} />
            ) : (
              <>
                <a class="session-link" href={`/sessions/${encodeURIComponent(s.id)}`}
                  aria-current={s.id === p.currentId ? 'page' : undefined}
                  onClick={(e) => {
                    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
                    e.preventDefault();
                    p.onSelect(s.id);
                  }}>
                  <span class="session-title">{s.title || 'Untitled'}</span>
                  <span class="session-meta">
                    <StatusBadge status={s.status} compact />
                    <time dateTime={s.last_activity} title={new Date(s.last_activity).toLocaleString()}>{relativeTime(s.last_activity)}</time>
                  </span>
                </a>
                <span class="session-actions">
                  <a class="icon-btn export-link" href={urls.exportSession(s.id, 'md')} download aria-label={`Export ${s.title || 'Untitled'} as Markdown`} title="Export as Markdown"><Icon name="download" /></a>
                  <a class="icon-btn export-link" href={urls.exportSession(s.id, 'json')} download aria-label={`Export ${s.title || 'Untitled'} as JSON`} title="Export as JSON">{'{}'}</a>
                  <button type="button" class="icon-btn" aria-label={`Rename ${s.title || 'Untitled'}`} title="Rename" onClick={() => setRenaming(s.id)}><Icon name="edit" /></button>
                  <button type="button" class="icon-btn" aria-label={`Delete ${s.title || 'Untitled'}`} title="Delete" onClick={() => setDeleting(s)}><Icon name="trash" /></button>
                </span>
              </>
            )}
          </li>
        ))}
        {p.hasMore && <li><button type="button" class="btn subtle wide" onClick={p.onLoadMore}>Load more</button></li>}
      </ul>
      <div class="sidebar-foot">
        <span class="user-name" title={`Signed in as ${p.user.username} (${p.user.role})`}>{p.user.username}</span>
        <span class="foot-actions">
          <button type="button" class="btn subtle" onClick={p.onLogout}>Sign out</button>
          <button type="button" class="btn subtle sign-out-all" title="Sign out on every device and browser"
            onClick={() => setEverywhere(true)}>Sign out everywhere</button>
        </span>
      </div>

      <NewSessionDialog open={creating} onClose={() => setCreating(false)} onCreated={(s) => { setCreating(false); p.onCreated(s); }} toast={p.toast} />
      <ConfirmDialog
        open={deleting !== null}
        title="Delete this session?"
        body={<p>“{deleting?.title || 'Untitled'}” will be deleted with its conversation and all its files. This cannot be undone.</p>}
        confirmLabel="Delete session"
        danger
        busy={busy}
        onConfirm={doDelete}
        onCancel={() => setDeleting(null)}
      />
      <ConfirmDialog
        open={everywhere}
        title="Sign out everywhere?"
        body={<p>Every device and browser signed in as {p.user.username}, this one included, will have to sign in again. Use this if you lost a device or think someone else has your session.</p>}
        confirmLabel="Sign out everywhere"
        danger
        busy={busy}
        onConfirm={async () => {
          setBusy(true);
          try {
            await p.onLogoutAll();
          } finally {
            setBusy(false);
            setEverywhere(false);
          }
        }}
        onCancel={() => setEverywhere(false)}
      />
    </nav>
  );
}

function RenameField({ session, onDone, toast }: { session: Session; onDone: (s: Session | null) => void; toast: ToastFn }) {
  const [value, setValue] = useState(session.title);
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    ref.current?.focus();
    ref.current?.select();
  }, []);
  const save = async () => {
    const title = value.trim();
    if (!title || title === session.title) {
      onDone(null);
      return;
    }
    try {
      onDone(await api.updateSession(session.id, { title }));
    } catch (e) {
      toast({ level: 'error', ...explainError(e, 'rename the session') });
      onDone(null);
    }
  };
  return (
    <form class="rename" onSubmit={(e) => { e.preventDefault(); save(); }}>
      <label class="sr-only" for={`rename-${session.id}`}>New title</label>
      <input id={`rename-${session.id}`} ref={ref} value={value} maxLength={200}
        onInput={(e) => setValue((e.target as HTMLInputElement).value)}
        onKeyDown={(e) => { if (e.key === 'Escape') { e.preventDefault(); onDone(null); } }}
        onBlur={save} />
    </form>
  );
}

function NewSessionDialog({ open, onClose, onCreated, toast }: {
  open: boolean; onClose: () => void; onCreated: (s: Session) => void; toast: ToastFn;
}) {
  const [title, setTitle] = useState('');
  const [template, setTemplate] = useState('');
  const [mode, setMode] = useState<PermissionMode>('default');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (open) {
      setTitle('');
      setTemplate('');
      setMode('default');
      setError(null);
    }
  }, [open]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await api.createSession({
        ...(title.trim() ? { title: title.trim() } : {}),
        ...(template.trim() ? { template: template.trim() } : {}),
        permission_mode: mode,
      });
      onCreated(s);
    } catch (err) {
      const ex = explainError(err, 'create the session');
      setError(`${ex.title} ${ex.next}`);
      if (!(err instanceof Error)) toast({ level: 'error', ...ex });
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open={open} title="New session" onClose={onClose} labelId="new-session-title">
      <form class="form" onSubmit={submit}>
        <label for="ns-title">Title <span class="muted">(optional)</span></label>
        <input id="ns-title" value={title} maxLength={200} placeholder="e.g. Fix the login bug" autoFocus
          onInput={(e) => setTitle((e.target as HTMLInputElement).value)} />
        <label for="ns-template">Template <span class="muted">(optional)</span></label>
        <input id="ns-template" value={template} maxLength={100} placeholder="Name of a shared template"
          onInput={(e) => setTemplate((e.target as HTMLInputElement).value)} />
        <fieldset class="modes">
          <legend>Permissions</legend>
          {MODES.map((m) => (
            <label key={m.value} class="mode">
              <input type="radio" name="ns-mode" value={m.value} checked={mode === m.value} onChange={() => setMode(m.value)} />
              <span><strong>{m.label}</strong><span class="muted"> — {m.hint}</span></span>
            </label>
          ))}
        </fieldset>
        {error && <p class="form-error" role="alert">{error}</p>}
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={onClose}>Cancel</button>
          <button type="submit" class="btn primary" disabled={busy}>{busy ? 'Creating…' : 'Create session'}</button>
        </div>
      </form>
    </Dialog>
  );
}
