// The transcript of one session: a pure reducer over (1) the stored history
// (GET /messages: completed messages, no ids) and (2) the event stream
// (GET /events: every event of a run, with Redis stream ids), and a pure
// view builder that merges both into the list the chat renders.
//
// How the two sources are merged without duplicates:
// - Events are deduplicated by id: anything at or before the newest id seen
//   is a replay and is dropped (reconnects with Last-Event-ID, or a stream
//   that replays the active run from its first event after a reload).
// - Runs seen on the stream are kept by run_id. A run that ended is
//   "settled" once a history fetched after its end arrives: from then on its
//   messages are drawn from the history, which is the durable record.
// - Runs not yet settled (the active one, or one that just ended) are drawn
//   from their events. Their part of the history (the prompt and the
//   messages after it) is cut off the history so that nothing shows twice:
//   buildView finds that cut by matching the history's tail against the
//   runs' content (tool_use ids, texts) and the active run's prompt.
// - Details the history does not keep (bash stdout/stderr, exit code,
//   duration; permission decisions; errors) are kept by tool_use_id and run
//   and shown on the history's cards too.
// - Runs that have not started (docs/scheduler.md: queued behind the
//   session's current run, waiting for one of the user's slots, or for a
//   runner) are shown as "queued" prompts after everything else, from the
//   POST answer, the stream or GET /messages' `queued` list; their prompt
//   is not in the history until run.started. A queued run that ends without
//   starting (removed) leaves nothing behind.

import { cmpId, isEventId } from './ids';
import { citationsOf, serverResults, webFromEvent, type Citation, type WebResultData } from './web';
import type {
  HistoryMessage, PendingPermission, QueuedRun, QueuePosition, SessionStatus, Snapshot, StreamEvent,
  ToolResultEvent, UsageTotals,
} from './types';
import { attachedPath } from './images';
import { mcpBlockName, mcpResults } from './mcp';

/** One item of the todo list (todo_write; docs/api.md). */
export interface TodoItem {
  content: string;
  status: 'pending' | 'in_progress' | 'completed' | string;
  activeForm?: string;
  id?: string;
}

/** The todo list from an event's or a response's data (anything malformed dropped). */
export function todosOf(v: unknown): TodoItem[] | null {
  if (!Array.isArray(v)) return null;
  return v.filter((t) => t && typeof t.content === 'string' && typeof t.status === 'string')
    .map((t) => ({
      content: t.content, status: t.status,
      ...(typeof t.activeForm === 'string' ? { activeForm: t.activeForm } : {}),
      ...(typeof t.id === 'string' ? { id: t.id } : {}),
    }));
}

export interface LiveBlock {
  kind: 'text' | 'thinking' | 'tool';
  index: number;
  text: string;
  toolId?: string;
  name?: string;
  input?: Record<string, unknown>;
  /** A cited text block's sources (text.citations). */
  citations?: Citation[];
}

export interface Turn {
  messageId: string;
  blocks: LiveBlock[];
  stopped: boolean;
  stopReason?: string;
}

export type RunStatus = 'queued' | 'running' | 'finished' | 'error' | 'cancelled';

export interface Run {
  id: string;
  kind: string;
  status: RunStatus;
  started: boolean;
  resumed: boolean;
  firstId: string | null;
  endId: string | null;
  turns: Turn[];
  toolIds: string[];
  retry: { attempt: number; delay_ms: number; reason: string } | null;
  error: { type: string; message: string } | null;
  stopReason: string | null;
  compacted: { messages_before: number; messages_after: number } | null;
  /**
   * The server restarted a step of this run (run.resumed: another runner took
   * over after a crash). atTurn: where its notice goes, before turns[atTurn].
   */
  resumedStep: { redo: string; discardedText: boolean; atTurn: number } | null;
  /** Seen from the middle (its first events were missed): drawn from the history once settled. */
  partial: boolean;
  settled: boolean;
  /**
   * Where its notices go in the history once settled: after `block` units of
   * message `msg` (the history's last message when it settled; the server
   * may later merge the next prompt into that same message, hence blocks).
   */
  anchor: { msg: number; block: number } | null;
  /**
   * Where it stands while it waits (run.queued / run.queue_position / the
   * POST answer / GET /messages' queued list); null once a runner has it.
   * A started run may wait again: a parked run's continuation after the answer.
   */
  queue: QueuePosition | null;
  /** The id of the event that said so (null: the POST answer or a history's list). */
  queueAt: string | null;
  /** Waiting for a person with no runner (run.parked), until run.continued. */
  parked: boolean;
  /** The state's tick when the run became known (see TranscriptState.tick). */
  createdTick: number;
  /** The user asked to remove it (DELETE in flight). */
  removing: boolean;
  /** The last upstream retry of a run that went on (run.retrying), kept once it ended. */
  retried?: { attempt: number; delay_ms: number; reason: string } | null;
  /** Who stopped it (run.cancelled `by`). */
  stoppedBy?: string;
}

export type PermissionStatus = 'pending' | 'allow' | 'deny' | 'expired' | 'cancelled';

export interface Permission {
  request_id: string;
  tool_use_id: string;
  tool: string;
  input: Record<string, unknown>;
  summary: string;
  expires_at?: number;
  run_id?: string;
  status: PermissionStatus;
  remember?: boolean;
  message?: string;
  /** The user answered here; the server has not confirmed yet. */
  answering?: boolean;
  /** Who answered (permission.resolved `by`). */
  by?: string;
}

export interface TranscriptState {
  sessionId: string | null;
  lastEventId: string | null;
  status: SessionStatus;
  history: HistoryMessage[] | null;
  runs: Run[];
  toolResults: Record<string, ToolResultEvent>;
  permissions: Record<string, Permission>;
  permByTool: Record<string, string>;
  localPrompts: Record<string, string>;
  /** Sent, no run id yet. */
  pendingPrompt: string | null;
  usage: UsageTotals | null;
  /** The history must be (re)fetched while historyWanted > historyHave. */
  historyWanted: number;
  historyHave: number;
  filesVersion: number;
  snapshot: Snapshot | null;
  /** After /clear: when the conversation was cleared (GET /messages `cleared`): a divider on top. */
  cleared?: Record<string, unknown> | null;
  /** The session's todo list (todo_write): null until known. */
  todos: TodoItem[] | null;
  /** An event set the list: a fetched copy (maybe older) no longer replaces it. */
  todosLive: boolean;
  /**
   * Sub-agents (the task tool), by the task call's tool_use_id: their
   * events carry parent_tool_use_id and are drawn inside that card.
   */
  children: Record<string, Run>;
  /**
   * Counts runs becoming known. A history fetch remembers the tick it began
   * at: its `queued` list is the truth about every run known by then.
   */
  tick: number;
}

export type Action =
  | { type: 'reset'; sessionId: string | null }
  | { type: 'snapshot'; snapshot: Snapshot; resumedFrom: string | null }
  | { type: 'event'; event: StreamEvent }
  | { type: 'events'; events: StreamEvent[] }
  | { type: 'history'; messages: HistoryMessage[]; asOf: string | null; want: number;
      /** Per tool_use_id, the tool.result details the server kept (stdout, exit code, ...). */
      details?: Record<string, ToolResultEvent>;
      /** GET /messages `notices`: approvals, errors, stops, retries, resumes as stored. */
      notices?: NoticeRecord[];
      /** The runs not started yet (GET /messages `queued`), and the state's tick when the fetch began. */
      queued?: QueuedRun[]; tick?: number;
      /** GET /messages `cleared` (after /clear). */
      cleared?: Record<string, unknown> | null }
  | { type: 'pendingPrompt'; text: string | null }
  /** The POST was accepted: the run's id, and where it stands (state, ahead). */
  | { type: 'localPrompt'; runId: string; text: string; queue?: QueuePosition }
  | { type: 'removing'; runId: string; removing: boolean }
  /** DELETE /runs/{id} answered 200 (or 404): the queued run is gone. */
  | { type: 'removed'; runId: string }
  | { type: 'usage'; usage: UsageTotals }
  /** The todo list as GET /sessions/{id} had it. */
  | { type: 'todos'; todos: TodoItem[] }
  | { type: 'answering'; requestId: string; answering: boolean }
  | { type: 'status'; status: SessionStatus }
  | { type: 'batch'; actions: Action[] };

export function initialState(sessionId: string | null = null): TranscriptState {
  return {
    sessionId,
    lastEventId: null,
    status: 'idle',
    history: null,
    runs: [],
    toolResults: {},
    permissions: {},
    permByTool: {},
    localPrompts: {},
    pendingPrompt: null,
    usage: null,
    historyWanted: 1,
    historyHave: 0,
    filesVersion: 0,
    snapshot: null,
    todos: null,
    todosLive: false,
    children: {},
    tick: 0,
  };
}

const FINAL = new Set(['run.finished', 'run.error', 'run.cancelled']);

function newRun(id: string, kind = 'message', partial = false): Run {
  return {
    id, kind, status: 'queued', started: false, resumed: false, firstId: null, endId: null,
    turns: [], toolIds: [], retry: null, error: null, stopReason: null, compacted: null,
    resumedStep: null, partial, settled: false, anchor: null,
    queue: null, queueAt: null, parked: false, createdTick: 0, removing: false, retried: null,
  };
}

/**
 * Adds a run: one that waits goes last, one that runs (or ran) goes before
 * the runs that wait (a reload may learn of the queued runs first).
 */
function addRun(s: TranscriptState, r: Run): TranscriptState {
  const tick = s.tick + 1;
  const run = { ...r, createdTick: tick };
  const runs = s.runs.slice();
  const at = inQueue(run) ? -1 : runs.findIndex(inQueue);
  if (at < 0) runs.push(run);
  else runs.splice(at, 0, run);
  return { ...s, runs, tick };
}

function queueOf(d: Record<string, unknown>): QueuePosition | null {
  if (typeof d.state !== 'string' && typeof d.ahead !== 'number') return null;
  const q: QueuePosition = {};
  if (typeof d.state === 'string') q.state = d.state;
  if (typeof d.ahead === 'number' && Number.isFinite(d.ahead)) q.ahead = Math.max(0, d.ahead);
  return q;
}

/** The text of a queued run's prompt (a string, or text blocks). */
function contentText(c: QueuedRun['content']): string {
  if (typeof c === 'string') return c;
  if (!Array.isArray(c)) return '';
  return c.filter((b) => b && b.type === 'text' && typeof b.text === 'string' && attachedPath(b.text) === null)
    .map((b) => b.text).join('\n\n');
}

export function runEnded(r: Run): boolean {
  return r.status === 'finished' || r.status === 'error' || r.status === 'cancelled';
}

/** Not started yet, not ended: waiting in a queue (behind the session's run, for a slot, or a runner). */
export function inQueue(r: Run): boolean {
  return !r.started && !r.partial && !runEnded(r);
}

/** Ended without ever starting (removed from the queue): nothing of it is shown, except an error. */
function vanished(r: Run): boolean {
  return !r.started && !r.partial && runEnded(r);
}

/** The run a runner has (or had, when parked) and that has not ended: at most one per session. */
export function currentRun(s: TranscriptState): Run | null {
  for (let i = s.runs.length - 1; i >= 0; i--) {
    const r = s.runs[i];
    if (!runEnded(r) && !inQueue(r)) return r;
  }
  return null;
}

/** The runs that wait to start, oldest first. */
export function queuedRuns(s: TranscriptState): Run[] {
  return s.runs.filter(inQueue);
}

/** The session's current run, else the first run that waits to start. */
export function activeRun(s: TranscriptState): Run | null {
  return currentRun(s) ?? queuedRuns(s)[0] ?? null;
}

/**
 * What the session is doing, as the badge, the tab title and the list say:
 * 'queued' when nothing runs and a message waits to start (never "running").
 */
export function viewStatus(s: TranscriptState): SessionStatus {
  if (currentRun(s)) return s.status === 'waiting' ? 'waiting' : 'running';
  if (queuedRuns(s).length) return s.status === 'waiting' ? 'waiting' : 'queued';
  return s.status;
}

function hasPending(perms: Record<string, Permission>): boolean {
  return Object.values(perms).some((p) => p.status === 'pending');
}

// Copy-on-write helpers: the state and everything changed are new objects
// (Preact compares by reference), the rest is shared.
function withRun(s: TranscriptState, id: string, fn: (r: Run) => Run): TranscriptState {
  const i = s.runs.findIndex((r) => r.id === id);
  if (i < 0) return s;
  const runs = s.runs.slice();
  runs[i] = fn(runs[i]);
  return { ...s, runs };
}

function lastTurn(r: Run): { run: Run; turn: Turn } {
  const turns = r.turns.slice();
  let turn: Turn;
  if (turns.length === 0 || turns[turns.length - 1].stopped) {
    // A delta without its message.start: the start was missed (a gap).
    turn = { messageId: `missing-${turns.length}`, blocks: [], stopped: false };
    turns.push(turn);
  } else {
    turn = { ...turns[turns.length - 1], blocks: turns[turns.length - 1].blocks.slice() };
    turns[turns.length - 1] = turn;
  }
  return { run: { ...r, turns }, turn };
}

function appendDelta(r: Run, kind: 'text' | 'thinking', index: number, text: string): Run {
  const { run, turn } = lastTurn(r);
  const bi = turn.blocks.findIndex((b) => b.index === index && b.kind === kind);
  if (bi < 0) turn.blocks.push({ kind, index, text });
  else turn.blocks[bi] = { ...turn.blocks[bi], text: turn.blocks[bi].text + text };
  return { ...run, retry: null };
}

/**
 * Drops the run's in-progress assistant message: the turn after its last
 * message.stop, with its text, thinking and tool calls (which never ran, as
 * tools run only after message.stop). The server abandoned that attempt and
 * streams the message again from the start, after a retried API call
 * (run.retrying) or after another runner took over from a crashed one
 * (run.resumed), so keeping it would show the old partial text followed by
 * the new one.
 */
export function retractPartial(r: Run): Run {
  const last = r.turns[r.turns.length - 1];
  if (last === undefined || last.stopped) return r;
  const gone = new Set(last.blocks.filter((b) => b.toolId !== undefined).map((b) => b.toolId));
  return {
    ...r,
    turns: r.turns.slice(0, -1),
    toolIds: gone.size ? r.toolIds.filter((t) => !gone.has(t)) : r.toolIds,
  };
}

/**
 * run.resumed: a new runner took over after a crash. redo "message": the
 * message in progress is produced again, so its partial text goes. redo
 * "tools" (or anything else the server may say): that message was complete
 * and saved (only its message.stop may have been lost with the crash); the
 * tool calls it made are answered as interrupted and Claude goes on, so it
 * stays, as a finished message.
 */
function resumeRun(r: Run, d: Record<string, unknown>): Run {
  const redo = typeof d.redo === 'string' && d.redo !== '' ? d.redo : 'message';
  let run: Run;
  if (redo === 'message') run = retractPartial(r);
  else {
    const turns = r.turns.slice();
    const last = turns[turns.length - 1];
    if (last !== undefined && !last.stopped) turns[turns.length - 1] = { ...last, stopped: true };
    run = { ...r, turns };
  }
  return {
    ...run,
    retry: null,
    status: runEnded(r) ? r.status : 'running',
    resumedStep: { redo, discardedText: !!d.discarded_text, atTurn: run.turns.length },
  };
}

function settleStatus(s: TranscriptState, st: SessionStatus): TranscriptState {
  return s.status === st ? s : { ...s, status: st };
}

function wantHistory(s: TranscriptState): TranscriptState {
  return { ...s, historyWanted: Math.max(s.historyWanted, s.historyHave) + 1 };
}

function addPermission(s: TranscriptState, p: PendingPermission, runId?: string): TranscriptState {
  const old = s.permissions[p.request_id];
  if (old && old.status !== 'pending') return s; // already resolved: the request is a replay
  const perm: Permission = {
    request_id: p.request_id, tool_use_id: p.tool_use_id, tool: p.tool, input: p.input || {},
    summary: p.summary || '', expires_at: p.expires_at, run_id: p.run_id || runId, status: 'pending',
    answering: old?.answering,
  };
  return {
    ...s,
    permissions: { ...s.permissions, [p.request_id]: perm },
    permByTool: { ...s.permByTool, [p.tool_use_id]: p.request_id },
  };
}

/** Applies one stream event. Replays (ids at or before the newest seen) change nothing. */
export function applyEvent(s: TranscriptState, ev: StreamEvent): TranscriptState {
  if (ev.type === 'snapshot' || ev.type === 'ping') return s;
  if (ev.id !== null && isEventId(ev.id)) {
    if (s.lastEventId !== null && cmpId(ev.id, s.lastEventId) <= 0) return s;
    s = { ...s, lastEventId: ev.id };
  }
  const d = ev.data || {};
  const runId: string | undefined = typeof d.run_id === 'string' ? d.run_id : undefined;

  if (runId !== undefined && !s.runs.some((r) => r.id === runId)) {
    // A queued run removed before we ever saw it: nothing to show.
    if (FINAL.has(ev.type) && d.reason === 'removed') return s;
    const queueEvent = ev.type === 'run.queued' || ev.type === 'run.queue_position';
    const partial = !queueEvent && ev.type !== 'run.started';
    const r = newRun(runId, typeof d.kind === 'string' ? d.kind : 'message', partial);
    r.firstId = ev.id;
    r.started = ev.type === 'run.started';
    s = addRun(s, r);
    if (partial) s = wantHistory(s);
  }
  if (typeof d.parent_tool_use_id === 'string' && d.parent_tool_use_id !== '') {
    return applyChildEvent(s, ev.type, d, d.parent_tool_use_id);
  }

  switch (ev.type) {
    case 'run.queued': {
      s = withRun(s, runId!, (r) => ({
        ...r, kind: d.kind || r.kind, firstId: r.firstId ?? ev.id,
        ...(inQueue(r) && queueOf(d) ? { queue: queueOf(d), queueAt: ev.id } : {}),
      }));
      // Queued from another window: its prompt comes with the history's queued list.
      const r = s.runs.find((x) => x.id === runId)!;
      if (inQueue(r) && r.kind === 'message' && s.localPrompts[r.id] === undefined && s.pendingPrompt === null) {
        s = wantHistory(s);
      }
      // Behind the session's current run: the session's state is that run's.
      return currentRun(s) ? s : settleStatus(s, 'running');
    }
    case 'run.queue_position':
      return withRun(s, runId!, (r) => (runEnded(r) || !queueOf(d) ? r : { ...r, queue: queueOf(d), queueAt: ev.id }));
    case 'run.started':
      s = withRun(s, runId!, (r) => ({
        ...r, kind: d.kind || r.kind, started: true, resumed: !!d.resumed,
        status: runEnded(r) ? r.status : 'running', queue: null, parked: false, removing: false,
      }));
      return settleStatus(s, hasPending(s.permissions) ? 'waiting' : 'running');
    case 'run.parked':
      // The runner let the run go while it waits for the answer; the
      // approval card stays as it is.
      s = withRun(s, runId!, (r) => (runEnded(r) ? r : { ...r, parked: true }));
      return hasPending(s.permissions) ? settleStatus(s, 'waiting') : s;
    case 'run.continued':
      // A runner has it again; permission.resolved follows.
      return withRun(s, runId!, (r) => (runEnded(r) ? r : { ...r, parked: false, queue: null }));
    case 'message.start':
      return withRun(s, runId!, (r) => {
        if (r.turns.some((t) => t.messageId === d.message_id)) return r;
        return {
          ...r, started: true, status: runEnded(r) ? r.status : 'running', retry: null, queue: null, parked: false,
          turns: [...r.turns, { messageId: String(d.message_id ?? `m${r.turns.length}`), blocks: [], stopped: false }],
        };
      });
    case 'text.citations':
      return withRun(s, runId!, (r) => {
        const { run, turn } = lastTurn(r);
        const bi = turn.blocks.findIndex((b) => b.index === (Number(d.index) || 0) && b.kind === 'text');
        if (bi >= 0) turn.blocks[bi] = { ...turn.blocks[bi], citations: citationsOf(d.citations) };
        return run;
      });
    case 'text.delta':
      return withRun(s, runId!, (r) => appendDelta(r, 'text', Number(d.index) || 0, String(d.text ?? '')));
    case 'thinking.delta':
      return withRun(s, runId!, (r) => appendDelta(r, 'thinking', Number(d.index) || 0, String(d.thinking ?? '')));
    case 'tool.use':
      return withRun(s, runId!, (r) => {
        if (r.toolIds.includes(d.id)) return r;
        const { run, turn } = lastTurn(r);
        turn.blocks.push({ kind: 'tool', index: Number(d.index) || 0, text: '', toolId: d.id, name: d.name, input: d.input || {} });
        return { ...run, toolIds: [...run.toolIds, d.id] };
      });
    case 'message.stop':
      return withRun(s, runId!, (r) => {
        if (r.turns.length === 0) return r;
        const turns = r.turns.slice();
        turns[turns.length - 1] = { ...turns[turns.length - 1], stopped: true, stopReason: d.stop_reason };
        return { ...r, turns };
      });
    case 'permission.request':
      s = addPermission(s, d as PendingPermission, runId);
      return settleStatus(s, 'waiting');
    case 'permission.resolved': {
      const old = s.permissions[d.request_id];
      const perm: Permission = {
        ...(old || { request_id: d.request_id, tool_use_id: d.tool_use_id, tool: '', input: {}, summary: '' }),
        status: (d.decision as PermissionStatus) || 'cancelled',
        remember: d.remember, message: d.message, answering: false,
        by: typeof d.by === 'string' ? d.by : old?.by,
      };
      s = {
        ...s,
        permissions: { ...s.permissions, [d.request_id]: perm },
        permByTool: { ...s.permByTool, [perm.tool_use_id]: d.request_id },
      };
      if (s.status === 'waiting' && !hasPending(s.permissions)) s = settleStatus(s, activeRun(s) ? 'running' : 'idle');
      return s;
    }
    case 'tool.result':
      return { ...s, toolResults: { ...s.toolResults, [d.tool_use_id]: d as ToolResultEvent } };
    case 'file.changed':
      return { ...s, filesVersion: s.filesVersion + 1 };
    case 'todos.updated': {
      const todos = todosOf(d.todos);
      return todos ? { ...s, todos, todosLive: true } : s;
    }
    case 'usage':
      return d.session ? { ...s, usage: d.session as UsageTotals } : s;
    case 'run.retrying':
      return withRun(s, runId!, (r) => ({
        ...retractPartial(r),
        retry: { attempt: Number(d.attempt) || 1, delay_ms: Number(d.delay_ms) || 0, reason: String(d.reason ?? '') },
        retried: { attempt: Number(d.attempt) || 1, delay_ms: Number(d.delay_ms) || 0, reason: String(d.reason ?? '') },
      }));
    case 'run.resumed':
      return withRun(s, runId!, (r) => resumeRun(r, d));
    case 'cleared':
      // /clear: like a compaction to nothing (older anchors point nowhere now).
      return wantHistory(withRun(s, runId!, (r) => ({
        ...r, compacted: { messages_before: Number(d.cleared?.messages_before) || 0, messages_after: 0 },
      })));
    case 'compacted':
      return wantHistory(withRun(s, runId!, (r) => ({
        ...r, compacted: { messages_before: Number(d.messages_before) || 0, messages_after: Number(d.messages_after) || 0 },
      })));
    default:
      if (FINAL.has(ev.type)) return endRun(s, ev, runId!);
      return s; // unknown (future) event types are ignored
  }
}

/**
 * An event of a sub-agent (the task tool's child run): kept apart, by the
 * task call's id, as a run of its own; drawn inside the task's card.
 */
function applyChildEvent(s: TranscriptState, type: string, d: Record<string, any>, parent: string): TranscriptState { // eslint-disable-line @typescript-eslint/no-explicit-any
  const old = s.children[parent] ?? { ...newRun(parent, 'task'), started: true, status: 'running' as RunStatus };
  let c = old;
  switch (type) {
    case 'message.start':
      if (!c.turns.some((t) => t.messageId === d.message_id)) {
        c = { ...c, retry: null, turns: [...c.turns, { messageId: String(d.message_id ?? `m${c.turns.length}`), blocks: [], stopped: false }] };
      }
      break;
    case 'text.delta':
      c = appendDelta(c, 'text', Number(d.index) || 0, String(d.text ?? ''));
      break;
    case 'thinking.delta':
      c = appendDelta(c, 'thinking', Number(d.index) || 0, String(d.thinking ?? ''));
      break;
    case 'tool.use': {
      if (c.toolIds.includes(d.id)) break;
      const { run, turn } = lastTurn(c);
      turn.blocks.push({ kind: 'tool', index: Number(d.index) || 0, text: '', toolId: d.id, name: d.name, input: d.input || {} });
      c = { ...run, toolIds: [...run.toolIds, d.id] };
      break;
    }
    case 'message.stop':
      if (c.turns.length) {
        const turns = c.turns.slice();
        turns[turns.length - 1] = { ...turns[turns.length - 1], stopped: true, stopReason: d.stop_reason };
        c = { ...c, turns };
      }
      break;
    case 'run.retrying':
      c = retractPartial(c);
      break;
    case 'tool.result':
      return {
        ...s, toolResults: { ...s.toolResults, [d.tool_use_id]: d as ToolResultEvent },
        children: s.children[parent] ? s.children : { ...s.children, [parent]: c },
      };
    case 'file.changed':
      return { ...s, filesVersion: s.filesVersion + 1 };
    default:
      return s;
  }
  return c === old && s.children[parent] ? s : { ...s, children: { ...s.children, [parent]: c } };
}

function endRun(s: TranscriptState, ev: StreamEvent, runId: string): TranscriptState {
  const d = ev.data || {};
  const status: RunStatus = ev.type === 'run.finished' ? 'finished' : ev.type === 'run.error' ? 'error' : 'cancelled';
  const before = s.runs.find((r) => r.id === runId);
  if (before && !before.started && !before.partial) {
    // A queued run that ends without starting (removed, or closed by the
    // server): its bubble goes; the session's own run is not affected.
    s = withRun(s, runId, (r) => ({
      ...r, status, endId: ev.id, retry: null, queue: null, removing: false,
      error: status === 'error' ? { type: String(d.type ?? 'error'), message: String(d.message ?? '') } : null,
    }));
    if (currentRun(s) || queuedRuns(s).length) return s;
    return settleStatus(s, status === 'error' ? 'error' : hasPending(s.permissions) ? 'waiting' : 'idle');
  }
  s = withRun(s, runId, (r) => ({
    ...r, status, endId: ev.id, retry: null, queue: null, parked: false,
    stopReason: typeof d.stop_reason === 'string' ? d.stop_reason : r.stopReason,
    stoppedBy: typeof d.by === 'string' ? d.by : r.stoppedBy,
    error: status === 'error' ? { type: String(d.type ?? 'error'), message: String(d.message ?? '') } : null,
  }));
  // Requests of a run that ended can no longer be answered.
  let perms = s.permissions;
  for (const p of Object.values(perms)) {
    if (p.status === 'pending' && p.run_id === runId) {
      perms = { ...perms, [p.request_id]: { ...p, status: 'cancelled', answering: false } };
    }
  }
  s = { ...s, permissions: perms };
  s = settleStatus(s, status === 'error' ? 'error' : 'idle');
  return wantHistory(s);
}

/**
 * A record of GET /messages `notices` (docs/api.md): an event's data plus
 * `event`, `run_id`, `at`, `by` and `anchor` {msg, block} (after `block`
 * units of history message `msg`, as a settled run's anchor).
 */
export interface NoticeRecord {
  event: string;
  run_id?: string;
  at?: string;
  by?: string;
  anchor?: { msg: number; block: number };
  [k: string]: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * The stored notices redraw what the live view showed: approvals on their
 * tool cards (who, decision, remembered, message), and for each run that
 * ended and that this page never saw, a settled run at the stored anchor
 * with its error, stop (and who stopped it), stop reason, retry and resume.
 * Runs seen live keep what their events said. Anchors from before the last
 * compaction point nowhere (as live): those runs are not drawn.
 */
export function applyNotices(s: TranscriptState, list: NoticeRecord[]): TranscriptState {
  if (!Array.isArray(list)) return s;
  let lastCompact = -1;
  list.forEach((n, i) => { if (n && n.event === 'compacted') lastCompact = i; });
  const extra = new Map<string, { retried?: Run['retried']; resumed?: Run['resumedStep'] }>();
  list.forEach((n, i) => {
    if (!n || typeof n.event !== 'string') return;
    const rid = typeof n.run_id === 'string' ? n.run_id : undefined;
    if (n.event === 'permission.request' && typeof n.request_id === 'string' && typeof n.tool_use_id === 'string') {
      if (!s.permissions[n.request_id]) {
        s = addPermission(s, {
          request_id: n.request_id, tool_use_id: n.tool_use_id, tool: String(n.tool ?? ''), input: n.input || {},
          summary: String(n.summary ?? ''), expires_at: n.expires_at, run_id: rid,
        } as PendingPermission, rid);
      }
    } else if (n.event === 'permission.resolved' && typeof n.request_id === 'string') {
      const old = s.permissions[n.request_id];
      if (old && old.status !== 'pending') {
        if (!old.by && typeof n.by === 'string') s = { ...s, permissions: { ...s.permissions, [n.request_id]: { ...old, by: n.by } } };
        return;
      }
      const perm: Permission = {
        ...(old || { request_id: n.request_id, tool_use_id: String(n.tool_use_id ?? ''), tool: '', input: {}, summary: '', run_id: rid }),
        status: (n.decision as PermissionStatus) || 'cancelled', remember: n.remember, message: n.message,
        answering: false, by: typeof n.by === 'string' ? n.by : undefined,
      };
      s = { ...s, permissions: { ...s.permissions, [n.request_id]: perm }, permByTool: { ...s.permByTool, [perm.tool_use_id]: n.request_id } };
    } else if (rid && n.event === 'run.retrying') {
      extra.set(rid, { ...extra.get(rid), retried: { attempt: Number(n.attempt) || 1, delay_ms: Number(n.delay_ms) || 0, reason: String(n.reason ?? '') } });
    } else if (rid && n.event === 'run.resumed') {
      extra.set(rid, { ...extra.get(rid), resumed: { redo: String(n.redo || 'message'), discardedText: !!n.discarded_text, atTurn: 0 } });
    } else if (rid && FINAL.has(n.event) && n.started !== false && !s.runs.some((r) => r.id === rid)) {
      const r = newRun(rid, n.stop_reason === 'compacted' || n.stop_reason === 'nothing_to_compact' ? 'compact' : 'message');
      const x = extra.get(rid) || {};
      const a = n.anchor;
      Object.assign(r, {
        started: true, settled: true,
        status: n.event === 'run.finished' ? 'finished' : n.event === 'run.error' ? 'error' : 'cancelled',
        anchor: i > lastCompact && a && Number.isInteger(a.msg) && Number.isInteger(a.block) ? { msg: a.msg, block: a.block } : null,
        stopReason: typeof n.stop_reason === 'string' ? n.stop_reason : null,
        error: n.event === 'run.error' ? { type: String(n.type ?? 'error'), message: String(n.message ?? '') } : null,
        stoppedBy: typeof n.by === 'string' ? n.by : undefined,
        retried: x.retried ?? null, resumedStep: x.resumed ?? null,
      });
      s = addRun(s, r);
    }
  });
  return s;
}

export function reduce(s: TranscriptState, a: Action): TranscriptState {
  switch (a.type) {
    case 'reset':
      return initialState(a.sessionId);
    case 'batch':
      return a.actions.reduce(reduce, s);
    case 'event':
      return applyEvent(s, a.event);
    case 'events':
      return a.events.reduce(applyEvent, s);
    case 'snapshot':
      return applySnapshot(s, a.snapshot, a.resumedFrom);
    case 'history':
      // Details from the server fill cards the live stream never showed (a
      // reload); a result seen live wins.
      if (a.details) s = { ...s, toolResults: { ...a.details, ...s.toolResults } };
      // What the live view knew of ended runs, from the stored notices (a reload, another device).
      if (a.notices) s = applyNotices(s, a.notices);
      if (a.queued) s = applyQueued(s, a.queued, a.tick, a.asOf);
      if (a.cleared !== undefined) s = { ...s, cleared: a.cleared };
      return applyHistory(s, a.messages, a.asOf, a.want);
    case 'pendingPrompt':
      return { ...s, pendingPrompt: a.text };
    case 'localPrompt': {
      s = { ...s, pendingPrompt: null, localPrompts: { ...s.localPrompts, [a.runId]: a.text } };
      // Shown at once as queued; its events (before or after this) update it.
      if (!s.runs.some((r) => r.id === a.runId)) {
        const r = newRun(a.runId, 'message');
        r.queue = a.queue ?? null;
        s = addRun(s, r);
      } else if (a.queue) {
        s = withRun(s, a.runId, (r) => (inQueue(r) && r.queue === null ? { ...r, queue: a.queue! } : r));
      }
      // A message queued meanwhile from another window: its text comes with the history.
      if (queuedRuns(s).some((r) => r.kind === 'message' && s.localPrompts[r.id] === undefined)) s = wantHistory(s);
      return s;
    }
    case 'removing':
      return withRun(s, a.runId, (r) => (inQueue(r) ? { ...r, removing: a.removing } : r));
    case 'removed': {
      const r = s.runs.find((x) => x.id === a.runId);
      if (!r || !inQueue(r)) return s;
      s = withRun(s, a.runId, (x) => ({ ...x, status: 'cancelled' as RunStatus, queue: null, removing: false }));
      if (currentRun(s) || queuedRuns(s).length || s.status !== 'running') return s;
      return settleStatus(s, hasPending(s.permissions) ? 'waiting' : 'idle');
    }
    case 'usage':
      return { ...s, usage: a.usage };
    case 'todos':
      return s.todosLive ? s : { ...s, todos: a.todos };
    case 'status':
      return settleStatus(s, a.status);
    case 'answering': {
      const p = s.permissions[a.requestId];
      if (!p) return s;
      return { ...s, permissions: { ...s.permissions, [a.requestId]: { ...p, answering: a.answering } } };
    }
  }
}

function applySnapshot(s: TranscriptState, snap: Snapshot, resumedFrom: string | null): TranscriptState {
  s = { ...s, snapshot: snap, status: snap.status };
  for (const p of snap.pending_permissions || []) s = addPermission(s, p);
  const ar = snap.active_run;
  if (ar && ar.run_id && !s.runs.some((r) => r.id === ar.run_id)) {
    const r = newRun(ar.run_id, ar.kind || 'message');
    // "waiting": started, and parked for an answer.
    r.started = ar.status === 'running' || ar.status === 'waiting';
    r.status = r.started ? 'running' : 'queued';
    r.firstId = ar.first_event_id || null;
    // Resumed after the run began: its first events are not coming again.
    if (resumedFrom !== null && ar.first_event_id && cmpId(ar.first_event_id, resumedFrom) <= 0) {
      r.partial = true;
      s = wantHistory(s);
    }
    s = addRun(s, r);
  }
  if (resumedFrom === null && s.lastEventId !== null) {
    // A fresh stream although we had one: whatever we missed is in the history.
    s = wantHistory(s);
  }
  if (resumedFrom !== null && snap.resume_after && snap.resume_after !== resumedFrom) {
    // The server did not resume where we asked: a gap.
    s = wantHistory(s);
  }
  if (!ar) {
    // Nothing runs now; a run we think is active ended while we were away
    // and its end is not coming (or comes in the replay right after this).
    // (Runs that wait to start stay: the history's queued list tells.)
    const stale = s.runs.filter((r) => !runEnded(r) && !inQueue(r));
    if (stale.length && resumedFrom === null) {
      s = {
        ...s,
        runs: s.runs.map((r) => (runEnded(r) || inQueue(r) ? r : { ...r, status: 'finished' as RunStatus, endId: s.lastEventId })),
      };
      s = wantHistory(s);
    } else if (resumedFrom === null && queuedRuns(s).length) {
      s = wantHistory(s);
    }
  }
  return s;
}

/**
 * GET /messages' `queued` list: the runs of the session that have not
 * started, with their prompts and where they stand (unless an event said
 * so after the fetch began). Unknown ones are added as queued; a run we
 * think waits but that is not listed (and was known when the fetch began)
 * has started or gone: it is dropped (its events, if still coming, bring it
 * back; its prompt is then in the history).
 */
function applyQueued(s: TranscriptState, list: QueuedRun[], tick: number | undefined, asOf: string | null): TranscriptState {
  const listed = new Set(list.map((q) => q.run_id));
  if (tick !== undefined) {
    const runs = s.runs.filter((r) => !(inQueue(r) && !listed.has(r.id) && r.createdTick <= tick));
    if (runs.length !== s.runs.length) s = { ...s, runs };
  }
  for (const q of list) {
    if (!q || typeof q.run_id !== 'string') continue;
    const text = contentText(q.content);
    const known = s.runs.find((r) => r.id === q.run_id);
    if (known && !inQueue(known)) continue; // started or ended meanwhile: the stream knows better
    if (s.localPrompts[q.run_id] === undefined && (text !== '' || (q.kind ?? 'message') === 'message')) {
      s = { ...s, localPrompts: { ...s.localPrompts, [q.run_id]: text } };
    }
    const pos = queueOf(q as unknown as Record<string, unknown>);
    if (!known) {
      const r = newRun(q.run_id, q.kind || 'message');
      r.queue = pos;
      s = addRun(s, r);
    } else if (pos && (known.queueAt === null || (asOf !== null && cmpId(known.queueAt, asOf) <= 0))) {
      // Newer than what the stream said before the fetch began.
      s = withRun(s, q.run_id, (r) => ({ ...r, queue: pos }));
    }
  }
  return s;
}

/**
 * Where a run's notices go once it is drawn from this history: after its own
 * messages; when those are not recognisable, just before the first later run
 * found in it (a queued message that started at once is already there);
 * else after the history's last message.
 */
function settleAnchor(s: TranscriptState, r: Run, messages: HistoryMessage[],
  spans: Record<string, { start: number; end: number }>): { msg: number; block: number } {
  const own = spans[r.id];
  if (own && own.end > 0) return { msg: own.end - 1, block: unitCount(messages[own.end - 1]) };
  const later = s.runs.slice(s.runs.indexOf(r) + 1);
  for (const o of later) {
    const sp = spans[o.id];
    if (!sp) continue;
    const m = messages[sp.start];
    // The server merged the later prompt into this run's prompt (it ended without an answer).
    const units = m && isPrompt(m) ? promptUnits(m).texts.length : 0;
    if (units > 1) return { msg: sp.start, block: units - 1 };
    if (sp.start > 0) return { msg: sp.start - 1, block: unitCount(messages[sp.start - 1]) };
    break;
  }
  const found = findOwn(s, r, messages);
  if (found) return found;
  const last = messages.length - 1;
  return { msg: last, block: last >= 0 ? unitCount(messages[last]) : 0 };
}

/**
 * A run found anywhere in the history, not only at its tail: a queued
 * message that started at once may be stored, answered too, after it
 * before its events arrive (so the tail is not this run's). Its last message
 * is the one before the next prompt after its own content (a message it
 * owns by tool ids or text, else its prompt by text). Null: not found.
 */
function findOwn(s: TranscriptState, r: Run, messages: HistoryMessage[]): { msg: number; block: number } | null {
  const texts = runTexts(r);
  let from = -1;
  for (let i = messages.length - 1; i >= 0 && from < 0; i--) {
    if (ownedBy(r, messages[i], texts)) from = i;
  }
  if (from < 0) {
    const local = s.localPrompts[r.id];
    if (local === undefined || local.trim() === '') return null;
    // Later runs (started) with the very same text own the later matches.
    let skip = s.runs.slice(s.runs.indexOf(r) + 1)
      .filter((o) => o.kind === 'message' && (o.started || o.partial) && s.localPrompts[o.id]?.trim() === local.trim()).length;
    for (let i = messages.length - 1; i >= 0 && from < 0; i--) {
      if (!isPrompt(messages[i])) continue;
      const texts = promptUnits(messages[i]).texts;
      for (let u = texts.length - 1; u >= 0; u--) {
        if (texts[u].trim() !== local.trim()) continue;
        if (skip > 0) { skip--; continue; }
        // The next prompt merged into this one (this run ended without an answer).
        if (u < texts.length - 1) return { msg: i, block: u + 1 };
        from = i;
        break;
      }
    }
    if (from < 0) return null;
  }
  let end = from + 1;
  while (end < messages.length && !isPrompt(messages[end])) end++;
  return { msg: end - 1, block: unitCount(messages[end - 1]) };
}

function applyHistory(s: TranscriptState, messages: HistoryMessage[], asOf: string | null, want: number): TranscriptState {
  let compactedNow = false;
  const { spans } = historyCut({ ...s, history: messages });
  const runs = s.runs.map((r) => {
    if (r.settled || !runEnded(r)) return r;
    // Only a history fetched after the run's end has all of it.
    if (r.endId !== null && (asOf === null || cmpId(r.endId, asOf) > 0)) return r;
    if (r.compacted) compactedNow = true;
    return { ...r, settled: true, anchor: settleAnchor(s, r, messages, spans) };
  });
  // A compaction rewrote the history: older anchors point nowhere now.
  const fixed = compactedNow
    ? runs.map((r) => (r.settled && !r.compacted ? { ...r, anchor: null } : r))
    : runs;
  return { ...s, history: messages, runs: fixed, historyHave: Math.max(s.historyHave, want) };
}

// ---------------------------------------------------------------------------
// The view: what the chat shows, in order.

export interface ToolResultView {
  content: string;
  isError: boolean;
  stdout?: string;
  stderr?: string;
  exitCode?: number | null;
  durationMs?: number;
  timedOut?: boolean;
  truncatedBytes?: number;
  path?: string;
  /** The task tool: what its sub-agent did (steps kept for reloads, usage). */
  subagent?: SubagentDetail;
  /** web_search / web_fetch (server tools): results, page, error code. */
  web?: WebResultData;
}

/** tool.result `subagent` of a task call (docs/api.md). */
export interface SubagentDetail {
  description?: string;
  subagent_type?: string;
  turns?: number;
  steps?: Array<{
    type: 'text' | 'tool'; text?: string; id?: string; name?: string; input?: Record<string, unknown>;
    result?: { content?: string; is_error?: boolean; denied?: boolean };
  }>;
  /** Steps the server did not keep (beyond its caps). */
  steps_dropped?: number;
  usage?: UsageTotals;
}

export type ToolState = 'waiting' | 'running' | 'done' | 'error' | 'denied' | 'interrupted';

export type ViewItem =
  | {
    kind: 'user'; key: string; text: string; summary?: string; pending?: boolean;
    /** Waiting to start (where it stands, as far as known); runId: for the remove button. */
    queued?: QueuePosition; runId?: string; removing?: boolean; runKind?: string;
    /** Image blocks and @-attached files (paths) that came with this text. */
    images?: Array<Record<string, any>>; files?: string[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  }
  | { kind: 'text'; key: string; text: string; streaming: boolean; citations?: Citation[] }
  | { kind: 'thinking'; key: string; text: string; streaming: boolean }
  | { kind: 'redacted'; key: string }
  | {
    kind: 'tool'; key: string; id: string; name: string; input: Record<string, unknown>;
    result: ToolResultView | null; permission: Permission | null; state: ToolState;
    /** A task call: its sub-agent's steps, oldest first. */
    children?: SubStep[];
  }
  | { kind: 'permission'; key: string; permission: Permission }
  | { kind: 'notice'; key: string; level: 'info' | 'warn' | 'error'; code: string; data: Record<string, unknown> };

/** A step of a sub-agent, drawn inside its task card. */
export type SubStep = Extract<ViewItem, { kind: 'text' }> | Extract<ViewItem, { kind: 'tool' }>;

export const SUMMARY_PREFIX = '<summary of the earlier conversation>';

function blocksOf(m: HistoryMessage): Array<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  if (typeof m.content === 'string') return [{ type: 'text', text: m.content }];
  return Array.isArray(m.content) ? (m.content as Array<Record<string, any>>) : []; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function isPrompt(m: HistoryMessage): boolean {
  if (m.role !== 'user') return false;
  if (!Array.isArray(m.content)) return true;
  return !m.content.some((b) => b && b.type === 'tool_result');
}

/**
 * A prompt's texts (one per text block: the server merges a prompt into the
 * previous one when that run ended without an answer) and the compaction
 * summary put in front of them (if any).
 */
export function promptUnits(m: HistoryMessage): { texts: string[]; summary?: string; units: PromptUnit[] } {
  let summary: string | undefined;
  const texts: string[] = [];
  // Attached files and images belong to the text that follows them (attach.h).
  const units: PromptUnit[] = [];
  let cur: PromptUnit = { images: [], files: [], blocks: [] };
  for (const b of blocksOf(m)) {
    if (b.type === 'image') {
      cur.images.push(b);
      cur.blocks.push(b);
      continue;
    }
    if (b.type !== 'text' || typeof b.text !== 'string') continue;
    const path = attachedPath(b.text);
    if (path !== null) {
      cur.files.push(path);
      cur.blocks.push(b);
    } else if (b.text.startsWith(SUMMARY_PREFIX)) {
      summary = b.text.slice(SUMMARY_PREFIX.length).replace(/<\/summary>\s*$/, '').trim();
    } else {
      texts.push(b.text);
      cur.blocks.push({ type: 'text', text: b.text });
      units.push(cur);
      cur = { images: [], files: [], blocks: [] };
    }
  }
  return { texts, summary, units };
}

/** What came with one text of a prompt: images, attached files, and all of its blocks (for Retry). */
export interface PromptUnit {
  images: Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
  files: string[];
  blocks: Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Retry of a failed turn: its prompt's text and blocks (at history message msg, unit block - 1 if inside it). */
function retryAt(H: HistoryMessage[], msg: number, block: number): { text: string; blocks: unknown[] } | null {
  let i = Math.min(msg, H.length - 1);
  while (i >= 0 && !isPrompt(H[i])) i--;
  if (i < 0) return null;
  const u = promptUnits(H[i]);
  const j = i === msg ? Math.min(block, u.texts.length) - 1 : u.texts.length - 1;
  return j >= 0 ? { text: u.texts[j], blocks: u.units[j].blocks } : null;
}

/** The prompt's own text (all its units), and the compaction summary. */
export function promptText(m: HistoryMessage): { text: string; summary?: string } {
  const u = promptUnits(m);
  return { text: u.texts.join('\n\n'), summary: u.summary };
}

/** How many units an anchor can point after: prompt texts, or blocks. */
function unitCount(m: HistoryMessage): number {
  return isPrompt(m) ? promptUnits(m).texts.length : blocksOf(m).length;
}

function assistantText(m: HistoryMessage): string {
  return blocksOf(m).filter((b) => b.type === 'text').map((b) => String(b.text ?? '')).join('');
}

function runTexts(r: Run): Set<string> {
  const out = new Set<string>();
  for (const t of r.turns) {
    const txt = t.blocks.filter((b) => b.kind === 'text').map((b) => b.text).join('');
    if (txt) out.add(txt);
  }
  return out;
}

/** Whether history message m is part of run r (by tool ids, or an identical answer text). */
function ownedBy(r: Run, m: HistoryMessage, texts: Set<string>): boolean {
  const blocks = blocksOf(m);
  if (m.role === 'assistant') {
    if (blocks.some((b) => (b.type === 'tool_use' || b.type === 'server_tool_use' || b.type === 'mcp_tool_use') && r.toolIds.includes(b.id))) return true;
    const t = assistantText(m);
    return t !== '' && texts.has(t);
  }
  return !isPrompt(m) && blocks.some((b) => b.type === 'tool_result' && r.toolIds.includes(b.tool_use_id));
}

function promptMatches(r: Run, m: HistoryMessage, local: string | undefined): boolean {
  if (!r.started && !r.partial) return false; // the prompt is stored when the run starts
  if (local === undefined) return true;
  const t = promptUnits(m).texts;
  return t.length > 0 && t[t.length - 1].trim() === local.trim();
}

/**
 * Splits the history: messages [0, cut) are shown from the history; the rest
 * belongs to the unsettled runs and is shown from their events. Also returns
 * the prompt found in the history for each unsettled run.
 */
export function historyCut(s: TranscriptState): {
  cut: number; prompts: Record<string, HistoryMessage>;
  /** Where each run found in the history is: messages [start, end). */
  spans: Record<string, { start: number; end: number }>;
} {
  const H = s.history || [];
  const U = s.runs.filter((r) => !r.settled);
  const prompts: Record<string, HistoryMessage> = {};
  const spans: Record<string, { start: number; end: number }> = {};
  let i = H.length;
  for (let k = U.length - 1; k >= 0 && i > 0; k--) {
    const r = U[k];
    if (r.kind !== 'message') continue;
    const local = s.localPrompts[r.id];
    if (!runEnded(r)) {
      // The active run: its prompt is the last prompt of the history if it
      // has been stored; everything after it is this run's (the stream
      // replays the whole run, so its events cover it).
      let p = i - 1;
      while (p >= 0 && !isPrompt(H[p])) p--;
      if (p < 0 || !promptMatches(r, H[p], local)) continue;
      const texts = runTexts(r);
      let owned = p === i - 1;
      for (let j = p + 1; j < i && !owned; j++) owned = ownedBy(r, H[j], texts);
      if (!owned) continue;
      prompts[r.id] = H[p];
      spans[r.id] = { start: p, end: i };
      i = p;
      continue;
    }
    // An ended run: all of its content is known; peel it off the tail.
    const texts = runTexts(r);
    let j = i;
    while (j > 0 && ownedBy(r, H[j - 1], texts)) j--;
    if (j > 0 && isPrompt(H[j - 1]) && promptMatches(r, H[j - 1], local) && (j < i || r.partial || r.started)) {
      prompts[r.id] = H[j - 1];
      j--;
    }
    if (j < i) spans[r.id] = { start: j, end: i };
    i = j;
  }
  return { cut: i, prompts, spans };
}

function resultFromHistory(b: Record<string, any>): ToolResultView { // eslint-disable-line @typescript-eslint/no-explicit-any
  let content = '';
  if (typeof b.content === 'string') content = b.content;
  else if (Array.isArray(b.content)) {
    content = b.content.map((c: { type: string; text?: string }) => (c.type === 'text' ? c.text ?? '' : `[${c.type}]`)).join('\n');
  }
  return { content, isError: !!b.is_error };
}

function resultFromEvent(e: ToolResultEvent): ToolResultView {
  return {
    content: e.content ?? '', isError: !!e.is_error, stdout: e.stdout, stderr: e.stderr,
    exitCode: e.exit_code, durationMs: e.duration_ms, timedOut: e.timed_out,
    truncatedBytes: e.truncated_bytes, path: e.path,
    ...((e as unknown as { subagent?: SubagentDetail }).subagent ? { subagent: (e as unknown as { subagent: SubagentDetail }).subagent } : {}),
    ...(webFromEvent(e as unknown as Record<string, unknown>) ? { web: webFromEvent(e as unknown as Record<string, unknown>) } : {}),
  };
}

/**
 * A task call's sub-agent steps: from its events when they were seen (live,
 * or replayed), else from the steps its tool.result kept (a reload).
 */
function subSteps(s: TranscriptState, toolId: string, result: ToolResultView | null, live: boolean,
  resultFor: (id: string) => ToolResultView | null): SubStep[] | undefined {
  const c = s.children[toolId];
  const out: SubStep[] = [];
  if (c) {
    const running = live && !result;
    c.turns.forEach((t, ti) => {
      const blocks = t.blocks.slice().sort((a, b) => a.index - b.index);
      for (const b of blocks) {
        const key = `c:${toolId}:${ti}:${b.index}`;
        if (b.kind === 'text') {
          if (b.text.trim() !== '' || (running && !t.stopped)) out.push({ kind: 'text', key, text: b.text, streaming: running && !t.stopped });
        } else if (b.toolId) {
          const r = resultFor(b.toolId);
          out.push({
            kind: 'tool', key: `t:${b.toolId}`, id: b.toolId, name: b.name || 'tool', input: b.input || {},
            result: r, permission: null, state: r ? (r.isError ? 'error' : 'done') : running ? 'running' : 'interrupted',
          });
        }
      }
    });
    return out;
  }
  const steps = result?.subagent?.steps;
  if (!Array.isArray(steps)) return undefined;
  steps.forEach((st, i) => {
    if (!st) return;
    if (st.type === 'text' && typeof st.text === 'string') {
      out.push({ kind: 'text', key: `c:${toolId}:s${i}`, text: st.text, streaming: false });
    } else if (st.type === 'tool' && typeof st.id === 'string') {
      const r: ToolResultView | null = resultFor(st.id)
        ?? (st.result ? { content: String(st.result.content ?? ''), isError: !!st.result.is_error } : null);
      out.push({
        kind: 'tool', key: `t:${st.id}`, id: st.id, name: String(st.name ?? 'tool'), input: st.input || {},
        result: r, permission: null,
        state: st.result?.denied ? 'denied' : r ? (r.isError ? 'error' : 'done') : 'interrupted',
      });
    }
  });
  return out;
}

function toolState(result: ToolResultView | null, perm: Permission | null, live: boolean): ToolState {
  if (result) {
    if (perm && perm.status === 'deny') return 'denied';
    return result.isError ? 'error' : 'done';
  }
  if (perm && perm.status === 'pending') return 'waiting';
  if (perm && (perm.status === 'deny' || perm.status === 'expired')) return 'denied';
  return live ? 'running' : 'interrupted';
}

function runNotices(r: Run, live: boolean, retry?: { text: string; blocks: unknown[] } | null): ViewItem[] {
  const out: ViewItem[] = [];
  const key = (c: string) => `n:${r.id}:${c}`;
  if (vanished(r)) {
    // Removed from the queue (or closed before it started): only an error is worth saying.
    if (r.status === 'error' && r.error) {
      out.push({ kind: 'notice', key: key('error'), level: 'error', code: 'run_error', data: { ...r.error } });
    }
    return out;
  }
  if (r.partial && live) out.push({ kind: 'notice', key: key('partial'), level: 'info', code: 'partial', data: {} });
  if (r.kind === 'compact' && !runEnded(r)) {
    out.push({ kind: 'notice', key: key('compacting'), level: 'info', code: 'compacting', data: {} });
  }
  if (r.compacted && live && r.kind !== 'clear') out.push({ kind: 'notice', key: key('compacted'), level: 'info', code: 'compacted', data: { ...r.compacted } });
  if (r.retry && !runEnded(r)) out.push({ kind: 'notice', key: key('retry'), level: 'warn', code: 'retrying', data: { ...r.retry } });
  // Once a run has ended (and is drawn from the history): that it was retried or resumed stays said.
  if (r.settled && r.retried) out.push({ kind: 'notice', key: key('retried'), level: 'info', code: 'retried', data: { ...r.retried } });
  if (r.settled && r.resumedStep) {
    out.push({ kind: 'notice', key: key('resumed'), level: 'info', code: 'resumed', data: { redo: r.resumedStep.redo, discarded_text: r.resumedStep.discardedText } });
  }
  if (r.status === 'error' && r.error) {
    out.push({ kind: 'notice', key: key('error'), level: 'error', code: 'run_error', data: { ...r.error, ...(retry ? { retry } : {}) } });
  }
  if (r.status === 'cancelled') out.push({ kind: 'notice', key: key('cancelled'), level: 'info', code: 'cancelled', data: r.stoppedBy ? { by: r.stoppedBy } : {} });
  if (r.status === 'finished' && r.stopReason && !['end_turn', 'tool_use', 'stop_sequence', 'compacted', 'nothing_to_compact', 'cleared'].includes(r.stopReason)) {
    out.push({ kind: 'notice', key: key('stop'), level: 'warn', code: 'stop_reason', data: { stop_reason: r.stopReason } });
  }
  if (r.kind === 'compact' && r.status === 'finished' && r.stopReason === 'nothing_to_compact' && live) {
    out.push({ kind: 'notice', key: key('nothing'), level: 'info', code: 'nothing_to_compact', data: {} });
  }
  return out;
}

/** The transcript as a list of items, oldest first. Pure: a function of the state only. */
export function buildView(s: TranscriptState): ViewItem[] {
  const H = s.history || [];
  const { cut, prompts } = historyCut(s);
  const out: ViewItem[] = [];
  const shownTools = new Set<string>();
  const active = activeRun(s);
  // /clear: the conversation starts here (the earlier one is archived).
  if (s.cleared && s.history !== null) out.push({ kind: 'notice', key: 'cleared', level: 'info', code: 'cleared', data: { ...s.cleared } });

  // Tool results stored in the history, by tool_use_id.
  const hResults: Record<string, ToolResultView> = {};
  for (const m of H) {
    if (m.role !== 'user' || !Array.isArray(m.content)) continue;
    for (const b of m.content as Array<Record<string, any>>) { // eslint-disable-line @typescript-eslint/no-explicit-any
      if (b && b.type === 'tool_result') hResults[b.tool_use_id] = resultFromHistory(b);
    }
  }
  // Server tools' results are in the assistant's own message.
  for (const [id, w] of Object.entries(serverResults(H))) hResults[id] = w;
  // Remote MCP servers' results (the connector): in the assistant's message too.
  for (const [id, w] of Object.entries(mcpResults(H))) hResults[id] = w;
  const permFor = (toolId: string): Permission | null => {
    const rid = s.permByTool[toolId];
    return rid ? s.permissions[rid] || null : null;
  };
  const resultFor = (toolId: string): ToolResultView | null => {
    const e = s.toolResults[toolId];
    if (e) return resultFromEvent(e);
    return hResults[toolId] || null;
  };

  // Notices of settled runs, by where they go: "message:units".
  const anchored = new Map<string, Run[]>();
  for (const r of s.runs) {
    if (!r.settled || r.anchor === null) continue;
    const k = `${r.anchor.msg}:${r.anchor.block}`;
    if (!anchored.has(k)) anchored.set(k, []);
    anchored.get(k)!.push(r);
  }
  const emitted = new Set<string>();
  const emitAnchored = (msg: number, block: number) => {
    const k = `${msg}:${block}`;
    if (emitted.has(k)) return;
    emitted.add(k);
    for (const r of anchored.get(k) || []) out.push(...runNotices(r, false, r.kind === 'message' ? retryAt(H, msg, block) : null));
  };
  /** A prompt message as one bubble per text, with notices between them. */
  const emitPrompt = (m: HistoryMessage, i: number, keyBase: string) => {
    const { texts, summary, units } = promptUnits(m);
    if (texts.length === 0 && summary) out.push({ kind: 'user', key: `${keyBase}`, text: '', summary });
    texts.forEach((text, j) => {
      const { images, files } = units[j];
      out.push({
        kind: 'user', key: j === 0 ? keyBase : `${keyBase}.${j}`, text, summary: j === 0 ? summary : undefined,
        ...(images.length ? { images } : {}), ...(files.length ? { files } : {}),
      });
      emitAnchored(i, j + 1);
    });
    emitAnchored(i, texts.length);
  };

  for (let i = 0; i < cut; i++) {
    const m = H[i];
    if (m.role === 'user') {
      if (isPrompt(m)) emitPrompt(m, i, `h${i}`);
      emitAnchored(i, blocksOf(m).length);
      continue;
    }
    blocksOf(m).forEach((b, j) => {
      const key = `h${i}.${j}`;
      if (b.type === 'text') {
        const citations = citationsOf(b.citations);
        if (String(b.text ?? '').trim() !== '') out.push({ kind: 'text', key, text: String(b.text), streaming: false, ...(citations ? { citations } : {}) });
      } else if (b.type === 'thinking') {
        out.push({ kind: 'thinking', key, text: String(b.thinking ?? ''), streaming: false });
      } else if (b.type === 'redacted_thinking') {
        out.push({ kind: 'redacted', key });
      } else if (b.type === 'tool_use' || b.type === 'server_tool_use' || b.type === 'mcp_tool_use') {
        const result = resultFor(b.id);
        const perm = permFor(b.id);
        shownTools.add(b.id);
        const children = subSteps(s, b.id, result, false, resultFor);
        out.push({
          kind: 'tool', key: `t:${b.id}`, id: b.id, name: b.type === 'mcp_tool_use' ? mcpBlockName(b) : String(b.name), input: b.input || {},
          result, permission: perm, state: toolState(result, perm, false), ...(children ? { children } : {}),
        });
      }
    });
    emitAnchored(i, blocksOf(m).length);
  }

  // Notices anchored in the part of the history that the live runs cover,
  // except inside a live run's own prompt message (placed between its texts).
  const promptAt = new Map<HistoryMessage, number>();
  H.forEach((m, i) => { if (i >= cut) promptAt.set(m, i); });
  for (const r of s.runs) {
    if (!r.settled || r.anchor === null) continue;
    const hp = H[r.anchor.msg];
    const insideLivePrompt = r.anchor.msg >= cut && hp !== undefined && Object.values(prompts).includes(hp)
      && r.anchor.block < unitCount(hp);
    if (!insideLivePrompt) emitAnchored(r.anchor.msg, r.anchor.block);
  }

  // The runs not settled: those that run or ran first, then those that wait to start.
  const unsettled = s.runs.filter((r) => !r.settled && !inQueue(r));
  const waiting = s.runs.filter(inQueue);
  for (const r of unsettled) {
    const live = !runEnded(r);
    const hp = prompts[r.id];
    if (vanished(r)) {
      out.push(...runNotices(r, true));
      continue;
    }
    if (hp) {
      emitPrompt(hp, promptAt.get(hp) ?? -1, `p:${r.id}`);
    } else if (s.localPrompts[r.id] !== undefined) {
      out.push({ kind: 'user', key: `p:${r.id}`, text: s.localPrompts[r.id] });
    }
    const rs = r.resumedStep;
    const resumedNotice: ViewItem | null = rs ? {
      kind: 'notice', key: `n:${r.id}:resumed`, level: 'info', code: 'resumed',
      data: { redo: rs.redo, discarded_text: rs.discardedText },
    } : null;
    r.turns.forEach((t, ti) => {
      // Where the redone step begins.
      if (resumedNotice && rs!.atTurn === ti) out.push(resumedNotice);
      const blocks = t.blocks.slice().sort((a, b) => a.index - b.index);
      for (const b of blocks) {
        const key = `r:${r.id}:${ti}:${b.index}`;
        if (b.kind === 'text') {
          if (b.text.trim() !== '' || (live && !t.stopped)) out.push({ kind: 'text', key, text: b.text, streaming: live && !t.stopped, ...(b.citations ? { citations: b.citations } : {}) });
        } else if (b.kind === 'thinking') {
          out.push({ kind: 'thinking', key, text: b.text, streaming: live && !t.stopped });
        } else if (b.toolId) {
          const result = resultFor(b.toolId);
          const perm = permFor(b.toolId);
          shownTools.add(b.toolId);
          const children = subSteps(s, b.toolId, result, live, resultFor);
          out.push({
            kind: 'tool', key: `t:${b.toolId}`, id: b.toolId, name: b.name || 'tool', input: b.input || {},
            result, permission: perm, state: toolState(result, perm, live), ...(children ? { children } : {}),
          });
        }
      }
    });
    if (resumedNotice && rs!.atTurn >= r.turns.length) out.push(resumedNotice);
    let retry: { text: string; blocks: unknown[] } | null = null;
    if (r.kind === 'message' && hp) {
      const u = promptUnits(hp);
      if (u.texts.length) retry = { text: u.texts[u.texts.length - 1], blocks: u.units[u.texts.length - 1].blocks };
    } else if (r.kind === 'message' && s.localPrompts[r.id]) retry = { text: s.localPrompts[r.id], blocks: [{ type: 'text', text: s.localPrompts[r.id] }] };
    out.push(...runNotices(r, true, retry));
  }

  // Requests whose tool call is not on screen (its events were missed).
  for (const p of Object.values(s.permissions)) {
    if (p.status === 'pending' && !shownTools.has(p.tool_use_id)) {
      out.push({ kind: 'permission', key: `perm:${p.request_id}`, permission: p });
    }
  }
  // Messages that wait to start: their prompt (not in the history yet), marked queued.
  for (const r of waiting) {
    const text = s.localPrompts[r.id];
    // A message whose text we do not know yet (sent from another window, the
    // history is on its way; or ours, its POST answer is on its way).
    if (text === undefined && r.kind === 'message') continue;
    out.push({
      kind: 'user', key: `p:${r.id}`, text: text ?? '', queued: { ...(r.queue || {}) }, runId: r.id,
      removing: r.removing, runKind: r.kind,
    });
  }
  if (s.pendingPrompt !== null && !(active && s.localPrompts[active.id] === s.pendingPrompt)) {
    out.push({ kind: 'user', key: 'pending', text: s.pendingPrompt, pending: true });
  }
  return out;
}
