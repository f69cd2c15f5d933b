import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import { api, ApiError, notifyUnauthorized, urls } from '../lib/api';
import { canOpenVSCode } from '../lib/features';
import { formatCost, formatTokens, loadDraft, saveDraft, totalTokens } from '../lib/format';
import { EventStream, type ConnState } from '../lib/stream';
import {
  buildView, currentRun, initialState, queuedRuns, reduce, todosOf, viewStatus, type Action,
} from '../lib/transcript';
import type { Session, SessionStatus, Snapshot, User } from '../lib/types';
import { continueText, explainError, queuedCountText, queueText } from '../lib/words';
import {
  allCommands, BUILTIN_COMMANDS, INIT_PROMPT, isMode, MODE_LABELS, MODES, nextMode, type SlashCommand,
} from '../lib/commands';
import type { PermissionMode } from '../lib/types';
import { Composer } from './Composer';
import { imageBlock, type PendingImage } from '../lib/images';
import { withSentAttachments, type SentAttachments } from './Attachments';
import type { ImageBlock, TextBlock } from '../lib/types';
import { ModelModeBar, type ModelChoice } from './ModelModeBar';
import { FilesPanel } from './FilesPanel';
import { NetworkPolicy } from './NetworkPolicy';
import { McpServers } from './McpServers';
import { StatusBadge } from './StatusBadge';
import type { ToastFn } from './Toasts';
import { Transcript } from './Transcript';
import { TodoList } from './TodoList';
import { Icon } from './Icon';

interface Props {
  sessionId: string;
  listed: Session | null;
  user: User;
  onOpenNav: () => void;
  onChanged: (s: Session) => void;
  onStatus: (id: string, st: SessionStatus) => void;
  onMissing: () => void;
  toast: ToastFn;
}

const FLUSH_MS = 16;

export function SessionView(p: Props) {
  const { sessionId, toast } = p;
  const [state, dispatch] = useReducer(reduce, sessionId, initialState);
  const stateRef = useRef(state);
  stateRef.current = state;
  const [session, setSession] = useState<Session | null>(p.listed);
  const [conn, setConn] = useState<{ state: ConnState; retryInMs?: number }>({ state: 'connecting' });
  const [filesOpen, setFilesOpen] = useState(() => window.matchMedia?.('(min-width: 1100px)').matches ?? true);
  const [draft, setDraft] = useState(() => loadDraft(sessionId));
  const [sending, setSending] = useState(false);
  const streamRef = useRef<EventStream | null>(null);
  const onMissingRef = useRef(p.onMissing);
  onMissingRef.current = p.onMissing;
  const onChangedRef = useRef(p.onChanged);
  onChangedRef.current = p.onChanged;
  const draftRef = useRef(draft);
  draftRef.current = draft;
  // ---- controls: model and mode, slash commands, the info panel (/help, /cost, ...) ----
  const [models, setModels] = useState<ModelChoice[]>([]);
  const [customCommands, setCustomCommands] = useState<SlashCommand[]>([]);
  const [saving, setSaving] = useState(false);
  const [info, setInfo] = useState<{ title: string; lines: string[] } | null>(null);

  // ---- the session itself (title, files_path for code-server users, usage so far) ----
  useEffect(() => {
    let gone = false;
    api.getSession(sessionId).then((s) => {
      if (gone) return;
      setSession(s);
      if (s.usage) dispatch({ type: 'usage', usage: s.usage });
      const todos = todosOf((s as Session & { todos?: unknown }).todos);
      if (todos) dispatch({ type: 'todos', todos });
    }).catch((e) => {
      if (gone) return;
      if (e instanceof ApiError && e.status === 404) {
        toast({ level: 'error', title: 'That session does not exist (any more).', next: 'Pick another one from the list.' });
        p.onMissing();
      } else if (!(e instanceof ApiError && e.status === 401)) {
        toast({ level: 'error', ...explainError(e, 'load the session') });
      }
    });
    return () => { gone = true; };
  }, [sessionId]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    if (p.listed) setSession((s) => (s ? { ...s, ...p.listed, usage: s.usage } : p.listed));
  }, [p.listed]);

  // ---- the event stream ----
  useEffect(() => {
    const queue: Action[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    const flush = () => {
      timer = null;
      if (queue.length) dispatch({ type: 'batch', actions: queue.splice(0) });
    };
    const push = (a: Action) => {
      queue.push(a);
      if (timer === null) timer = setTimeout(flush, FLUSH_MS);
    };
    const st = new EventStream({
      url: (after) => urls.events(sessionId, after),
      onEvent: (type, id, data) => {
        if (type === 'snapshot') push({ type: 'snapshot', snapshot: data as Snapshot, resumedFrom: st.resumedFrom });
        else push({ type: 'event', event: { id, type, data } });
        // An automatic title (session.updated): the header and the list follow.
        if (type === 'session.updated' && typeof (data as { title?: unknown } | null)?.title === 'string') {
          const title = (data as { title: string }).title;
          setSession((s) => (s ? { ...s, title } : s));
          onChangedRef.current({ id: sessionId, title } as Session);
        }
      },
      onState: (s, d) => setConn({ state: s, retryInMs: d?.retryInMs }),
      // Why did the stream fail? The login expired, the session is gone, or
      // something transient (then retry).
      checkAuth: async () => {
        try {
          await api.getSession(sessionId);
          return 'ok';
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) return 'unauthorized';
          if (e instanceof ApiError && e.status === 404) return 'gone';
          return 'error';
        }
      },
      onGone: () => {
        toast({ level: 'error', title: 'This session was deleted.', next: 'Pick another one from the list.' });
        onMissingRef.current();
      },
      // Back to the login screen; the draft stays in sessionStorage.
      onUnauthorized: notifyUnauthorized,
    });
    streamRef.current = st;
    st.start();
    const online = () => st.reconnectNow();
    window.addEventListener('online', online);
    return () => {
      window.removeEventListener('online', online);
      st.stop();
      if (timer !== null) clearTimeout(timer);
      streamRef.current = null;
    };
  }, [sessionId]);

  // ---- the history: fetched at first and whenever the transcript asks ----
  // (after a run ends, after a gap). One request at a time; a failure is
  // retried after 3 s.
  const fetching = useRef(false);
  const alive = useRef(true);
  useEffect(() => () => { alive.current = false; }, []);
  const [historyRetry, setHistoryRetry] = useState(0);
  useEffect(() => {
    if (state.historyWanted <= state.historyHave || fetching.current) return;
    fetching.current = true;
    const want = state.historyWanted;
    const asOf = stateRef.current.lastEventId;
    const tick = stateRef.current.tick;
    api.messages(sessionId).then((r) => {
      fetching.current = false;
      if (alive.current) {
        dispatch({
          type: 'history', messages: r.messages || [], asOf, want, details: r.tool_details, notices: r.notices,
          queued: Array.isArray(r.queued) ? r.queued : undefined, tick, cleared: r.cleared ?? null,
        });
      }
    }).catch((e) => {
      if (e instanceof ApiError && e.status === 401) {
        fetching.current = false;
        return;
      }
      if (alive.current && stateRef.current.history === null) toast({ level: 'error', ...explainError(e, 'load the conversation') });
      setTimeout(() => {
        fetching.current = false;
        if (alive.current) setHistoryRetry((n) => n + 1);
      }, 3000);
    });
  }, [state.historyWanted, state.historyHave, historyRetry, sessionId]); // eslint-disable-line react-hooks/exhaustive-deps

  // ---- status: the list badge and the tab title ----
  const status = viewStatus(state);
  useEffect(() => {
    p.onStatus(sessionId, status);
  }, [status, sessionId]); // eslint-disable-line react-hooks/exhaustive-deps
  const title = session?.title || 'Untitled';
  useEffect(() => {
    const prefix = status === 'waiting' ? '⏸ Waiting for approval · ' : status === 'running' ? '● '
      : status === 'queued' ? '◌ Queued · ' : status === 'error' ? '⚠ ' : '';
    document.title = `${prefix}${title} — claude-web`;
    return () => { document.title = 'claude-web'; };
  }, [status, title]);

  // Images and files sent from this window show on their prompt at once (Attachments.tsx).
  const [sentAtt, setSentAtt] = useState<SentAttachments>({});
  const items = useMemo(() => withSentAttachments(buildView(state), sentAtt), [state, sentAtt]);
  // The run Claude works on (or that waits for an answer); messages sent
  // meanwhile queue behind it, so the composer stays open.
  const active = currentRun(state);
  const queued = queuedRuns(state);
  const busy = state.pendingPrompt !== null || sending;
  let statusText = '';
  if (active) {
    statusText = status === 'waiting' ? 'Waiting for your approval'
      : active.queue ? continueText(active.queue) : 'Claude is working…';
    if (queued.length) statusText += ` · ${queuedCountText(queued.length)}`;
  } else if (queued.length) {
    statusText = queueText(queued[0].queue);
    if (queued.length > 1) statusText += ` · ${queuedCountText(queued.length)}`;
  }

  // ---- controls ----
  useEffect(() => {
    let gone = false;
    api.models().then((r) => { if (!gone) setModels(Array.isArray(r.models) ? r.models : []); }).catch(() => {});
    return () => { gone = true; };
  }, []);
  // The session's custom commands: again whenever its files change.
  useEffect(() => {
    let gone = false;
    api.commands(sessionId).then((r) => {
      if (gone) return;
      setCustomCommands((r.commands || []).map((c) => ({
        name: c.name, description: c.description || '', argumentHint: c.argument_hint || undefined, custom: true,
      })));
    }).catch(() => {});
    return () => { gone = true; };
  }, [sessionId, state.filesVersion]);
  const commands = useMemo(() => allCommands(customCommands), [customCommands]);

  const patchSession = useCallback(async (b: { model?: string; permission_mode?: PermissionMode }) => {
    setSaving(true);
    try {
      const s = await api.updateSession(sessionId, b);
      setSession((old) => (old ? { ...old, ...s, usage: old.usage } : s));
      p.onChanged(s);
      return true;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) toast({ level: 'error', ...explainError(e, 'change the session') });
      return false;
    } finally {
      setSaving(false);
    }
  }, [sessionId, toast]); // eslint-disable-line react-hooks/exhaustive-deps
  const modeRef = useRef<PermissionMode>('default');
  modeRef.current = session?.permission_mode || 'default';
  const cycleMode = useCallback(() => {
    void patchSession({ permission_mode: nextMode(modeRef.current) });
  }, [patchSession]);

  // ---- actions ----
  // extras: images and @-mentioned files (Composer); retry: the blocks of a failed turn's prompt, sent again.
  const send = useCallback(async (text: string, extras?: { images: PendingImage[]; files: string[] },
    retry?: Array<TextBlock | ImageBlock>) => {
    const t = text.trim();
    if (!t) return;
    setSending(true);
    if (!retry) setDraft('');
    dispatch({ type: 'pendingPrompt', text: t });
    try {
      const content = retry ? retry : extras?.images.length ? [...extras.images.map(imageBlock), { type: 'text' as const, text: t }] : t;
      const att = { images: (Array.isArray(content) ? content : []).filter((b): b is ImageBlock => b.type === 'image'), files: extras?.files ?? [] };
      setSentAtt((m) => ({ ...m, pending: att }));
      const r = await api.send(sessionId, content, extras?.files.map((path) => ({ path })));
      setSentAtt((m) => ({ ...m, [r.run_id]: att }));
      const queue = typeof r.state === 'string' || typeof r.ahead === 'number' ? { state: r.state, ahead: r.ahead } : undefined;
      dispatch({ type: 'localPrompt', runId: r.run_id, text: t, queue });
      // Sent: the kept copy goes, unless a new draft was started meanwhile.
      if (draftRef.current === '') saveDraft(sessionId, '');
    } catch (e) {
      dispatch({ type: 'pendingPrompt', text: null });
      if (!retry) setDraft((d) => (d ? d : text));
      if (!(e instanceof ApiError && e.status === 401)) toast({ level: 'error', ...explainError(e, 'send the message') });
    } finally {
      setSending(false);
    }
  }, [sessionId, toast]);

  const retryTurn = useCallback((text: string, blocks: Array<TextBlock | ImageBlock>) => {
    void send(text, undefined, blocks);
  }, [send]);

  const onDraft = useCallback((text: string) => {
    setDraft(text);
    saveDraft(sessionId, text);
  }, [sessionId]);

  const stop = useCallback(async () => {
    try {
      await api.cancel(sessionId);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) return; // it had just finished
      toast({ level: 'error', ...explainError(e, 'stop the run') });
    }
  }, [sessionId, toast]);

  // Removes a message that has not started. 409: Claude has just started on
  // it (it stays, as the ordinary prompt); 404: it is gone already.
  const removeQueued = useCallback(async (runId: string) => {
    dispatch({ type: 'removing', runId, removing: true });
    try {
      await api.removeRun(sessionId, runId);
      dispatch({ type: 'removed', runId });
    } catch (e) {
      dispatch({ type: 'removing', runId, removing: false });
      if (e instanceof ApiError && e.status === 404) dispatch({ type: 'removed', runId });
      else if (e instanceof ApiError && e.status === 409) {
        toast({ level: 'info', title: 'Claude has already started on this message.', next: 'Press Stop to cancel it.' });
      } else if (!(e instanceof ApiError && e.status === 401)) {
        toast({ level: 'error', ...explainError(e, 'remove the message') });
      }
    }
  }, [sessionId, toast]);

  const compact = useCallback(async (focus?: string) => {
    try {
      await api.compact(sessionId, typeof focus === 'string' && focus ? focus : undefined);
    } catch (e) {
      toast({ level: 'error', ...explainError(e, 'compact the conversation') });
    }
  }, [sessionId, toast]);

  // A slash command (never sent to Claude as text).
  const runSlash = useCallback(async (name: string, args: string) => {
    setInfo(null);
    const custom = customCommands.find((c) => c.name === name);
    const isBuiltin = BUILTIN_COMMANDS.some((c) => c.name === name);
    if (!isBuiltin && custom) {
      setSending(true);
      const shown = `/${name}${args ? ` ${args}` : ''}`;
      dispatch({ type: 'pendingPrompt', text: shown });
      try {
        const r = await api.sendCommand(sessionId, name, args);
        const queue = typeof r.state === 'string' || typeof r.ahead === 'number' ? { state: r.state, ahead: r.ahead } : undefined;
        dispatch({ type: 'localPrompt', runId: r.run_id, text: shown, queue });
      } catch (e) {
        dispatch({ type: 'pendingPrompt', text: null });
        if (!(e instanceof ApiError && e.status === 401)) toast({ level: 'error', ...explainError(e, `run /${name}`) });
      } finally {
        setSending(false);
      }
      return;
    }
    switch (name) {
      case 'compact':
        await compact(args);
        break;
      case 'clear':
        try {
          await api.clear(sessionId);
        } catch (e) {
          if (e instanceof ApiError && e.status === 409) {
            toast({ level: 'info', title: 'Claude is still working in this session.', next: 'Stop the run (or wait for it), then /clear.' });
          } else if (!(e instanceof ApiError && e.status === 401)) {
            toast({ level: 'error', ...explainError(e, 'clear the conversation') });
          }
        }
        break;
      case 'model': {
        if (!args) {
          setInfo({
            title: `Model: ${session?.model || '?'}`,
            lines: models.map((m) => `${m.id}${m.name ? ` — ${m.name}` : ''}`).concat('Switch with /model <id> or the model picker below.'),
          });
          break;
        }
        const want = models.find((m) => m.id === args || (m.name || '').toLowerCase() === args.toLowerCase()
          || m.id.includes(args.toLowerCase()));
        if (!want && models.length) {
          toast({ level: 'error', title: `There is no model “${args}”.`, next: `Choose one of: ${models.map((m) => m.id).join(', ')}.` });
          break;
        }
        if (await patchSession({ model: want ? want.id : args })) {
          toast({ level: 'info', title: `Model: ${want ? want.id : args}`, next: 'The next request uses it.' });
        }
        break;
      }
      case 'mode': {
        if (!args) {
          setInfo({
            title: `Permission mode: ${MODE_LABELS[session?.permission_mode || 'default']}`,
            lines: MODES.map((m) => `${m} — ${MODE_LABELS[m]}`).concat('Switch with /mode <name>, Shift+Tab or the mode badge below.'),
          });
          break;
        }
        const m = MODES.find((x) => x.toLowerCase() === args.toLowerCase());
        if (!m || !isMode(m)) {
          toast({ level: 'error', title: `There is no mode “${args}”.`, next: `Choose one of: ${MODES.join(', ')}.` });
          break;
        }
        await patchSession({ permission_mode: m });
        break;
      }
      case 'cost':
        try {
          const s = await api.getSession(sessionId);
          const u = s.usage;
          if (u) dispatch({ type: 'usage', usage: u });
          setInfo({
            title: `Cost of this session: ${formatCost(u?.cost_usd || 0)}`,
            lines: u ? [
              `Input: ${u.input_tokens} tokens`, `Output: ${u.output_tokens} tokens`,
              `Cache write: ${u.cache_creation_input_tokens} tokens`, `Cache read: ${u.cache_read_input_tokens} tokens`,
              `Total: ${formatTokens(totalTokens(u))} tokens · model ${s.model}`,
            ] : ['No usage yet.'],
          });
        } catch (e) {
          if (!(e instanceof ApiError && e.status === 401)) toast({ level: 'error', ...explainError(e, 'read the usage') });
        }
        break;
      case 'init':
        await send(INIT_PROMPT);
        break;
      case 'export': {
        const a = document.createElement('a');
        a.href = urls.exportSession(sessionId, args === 'json' ? 'json' : 'md');
        a.download = '';
        document.body.appendChild(a);
        a.click();
        a.remove();
        break;
      }
      case 'help':
        setInfo({
          title: 'Slash commands',
          lines: commands.map((c) => `/${c.name}${c.argumentHint ? ` ${c.argumentHint}` : ''} — ${c.description}${c.custom ? ' (custom)' : ''}`)
            .concat('Custom commands: /workspace/.claude/commands/<name>.md ($ARGUMENTS is replaced by what follows the name).'),
        });
        break;
      default:
        break;
    }
  }, [sessionId, toast, customCommands, commands, models, session, patchSession, compact]); // eslint-disable-line react-hooks/exhaustive-deps

  const revert = useCallback(async (path: string) => {
    try {
      await api.revertEdit(sessionId, path);
      toast({ level: 'info', title: `Restored ${path.replace(/^\/workspace\/?/, '')} as it was before Claude's last edit.` });
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        toast({ level: 'info', title: 'There is no earlier version to restore.', next: 'Claude has not changed this file since the last undo.' });
      } else {
        toast({ level: 'error', ...explainError(e, 'undo the edit') });
      }
    }
  }, [sessionId, toast]);

  const vscodeHref = session?.files_path && canOpenVSCode(p.user) ? urls.vscode(session.files_path) : null;

  const decide = useCallback(async (requestId: string, decision: 'allow' | 'deny', remember: boolean, message?: string,
    mode?: 'acceptEdits' | 'default') => {
    dispatch({ type: 'answering', requestId, answering: true });
    try {
      await api.decide(sessionId, requestId, decision, remember, message, mode);
      // An approved plan switched the session's mode (the list's copy too).
      if (mode) {
        setSession((s) => (s ? { ...s, permission_mode: mode } : s));
        api.getSession(sessionId).then((s) => { setSession((o) => (o ? { ...o, ...s, usage: o.usage } : s)); p.onChanged(s); })
          .catch(() => {});
      }
    } catch (e) {
      dispatch({ type: 'answering', requestId, answering: false });
      if (e instanceof ApiError && e.status === 409) {
        toast({ level: 'info', title: 'This request was already answered or has expired.', next: 'The conversation shows its outcome.' });
      } else {
        toast({ level: 'error', ...explainError(e, 'answer the request') });
      }
    }
  }, [sessionId, toast]);

  const usage = state.usage;
  return (
    <div class={`session-view${filesOpen ? ' files-open' : ''}`}>
      <main class="chat" aria-label="Conversation">
        <header class="topbar">
          <button type="button" class="icon-btn nav-toggle" aria-label="Open the session list" onClick={p.onOpenNav}><Icon name="menu" /></button>
          <div class="topbar-main">
            <h1 class="topbar-title" title={title}>{title}</h1>
            <div class="topbar-sub">
              <StatusBadge status={status} />
              <ConnIndicator conn={conn} />
              {usage && (
                <span class="usage" title={`Input ${usage.input_tokens}, output ${usage.output_tokens}, cache write ${usage.cache_creation_input_tokens}, cache read ${usage.cache_read_input_tokens} tokens`}>
                  {formatTokens(totalTokens(usage))} tokens · {formatCost(usage.cost_usd)}
                </span>
              )}
            </div>
          </div>
          <div class="topbar-actions">
            {active && (
              <button type="button" class="btn danger stop-btn" onClick={stop} title="Stop Claude (keeps what it has said so far)"><Icon name="stop" /> Stop</button>
            )}
            {vscodeHref && (
              <a class="btn subtle vscode-link" href={vscodeHref} target="_blank" rel="noopener noreferrer">
                Open in VS Code
              </a>
            )}
            {session && <McpServers session={session} onChanged={(n) => { setSession(n); p.onChanged(n); }} toast={toast} />}
            {session && <NetworkPolicy session={session} onChanged={(n) => { setSession(n); p.onChanged(n); }} toast={toast} />}
            <button type="button" class={`btn subtle files-toggle${filesOpen ? ' on' : ''}`} aria-pressed={filesOpen} aria-controls="files-panel"
              onClick={() => setFilesOpen((o) => !o)}>Files</button>
          </div>
        </header>
        {status === 'waiting' && (
          <div class="waiting-banner" role="status">
            Claude is waiting for your approval below.
            {active?.parked && <span class="waiting-note"> Take your time: the run is paused until you answer.</span>}
          </div>
        )}
        <Transcript items={items} loading={state.history === null} sessionId={sessionId} onDecide={decide} onCompact={compact}
          onRevert={revert} onRemove={removeQueued} onRetry={retryTurn} />
        {info && (
          <section class="info-panel" role="status" aria-label={info.title}>
            <div class="info-head">
              <strong>{info.title}</strong>
              <button type="button" class="icon-btn" aria-label="Close" onClick={() => setInfo(null)}>×</button>
            </div>
            <ul>{info.lines.map((l, i) => <li key={i}>{l}</li>)}</ul>
          </section>
        )}
        <TodoList todos={state.todos} />
        <Composer
          value={draft}
          onInput={onDraft}
          onSend={send}
          sessionId={sessionId}
          busy={busy}
          running={!!active}
          onStop={stop}
          statusText={statusText}
          commands={commands}
          onCommand={runSlash}
          onCycleMode={cycleMode}
          toolbar={session && (
            <ModelModeBar model={session.model} mode={session.permission_mode} models={models} saving={saving}
              onModel={(m) => { void patchSession({ model: m }); }}
              onMode={(m) => { void patchSession({ permission_mode: m }); }} />
          )}
        />
      </main>
      {filesOpen && (
        <FilesPanel sessionId={sessionId} version={state.filesVersion} vscodeHref={vscodeHref} onClose={() => setFilesOpen(false)} toast={toast} />
      )}
    </div>
  );
}

function ConnIndicator({ conn }: { conn: { state: ConnState; retryInMs?: number } }) {
  const [, tick] = useState(0);
  const since = useRef(Date.now());
  useEffect(() => {
    since.current = Date.now();
    if (conn.state !== 'offline') return;
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [conn]);
  let label: string;
  switch (conn.state) {
    case 'open': label = 'Live'; break;
    case 'connecting': label = 'Connecting…'; break;
    case 'reconnecting': label = 'Reconnecting…'; break;
    case 'offline': {
      const left = Math.max(0, Math.ceil(((conn.retryInMs || 0) - (Date.now() - since.current)) / 1000));
      label = left > 0 ? `Offline · retrying in ${left} s` : 'Offline · retrying…';
      break;
    }
    default: label = 'Disconnected';
  }
  return (
    <span class={`conn conn-${conn.state}`} role="status" aria-live="polite" title="Connection to the server's live updates">
      <span class="dot" aria-hidden="true" />
      <span class="conn-text">{label}</span>
    </span>
  );
}
