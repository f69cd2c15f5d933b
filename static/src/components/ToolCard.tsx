import { useState } from 'preact/hooks';
import './SearchCard.css';
import { editorDiff, type FileDiff } from '../lib/diff';
import { formatBytes, formatDuration } from '../lib/format';
import { highlight, languageForPath } from '../lib/highlight';
import type { Permission, ToolResultView, ViewItem } from '../lib/transcript';
import { TaskCard } from './TaskCard';
import { WebCard } from './WebResult';
import { WEB_TOOLS } from '../lib/web';
import { TodoCard } from './TodoList';
import { PLAN_TOOL, PlanCard } from './PlanCard';
import { McpCard } from './McpServers';
import { isMcpTool } from '../lib/mcp';

type ToolItem = Extract<ViewItem, { kind: 'tool' }>;
type Decide = (requestId: string, decision: 'allow' | 'deny', remember: boolean, message?: string) => void;

const EDITOR = 'str_replace_based_edit_tool';
const COLLAPSE_LINES = 20;
const COLLAPSE_CHARS = 3000;

function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);
}

function stripWorkspace(p: string): string {
  return p.replace(/^\/workspace\/?/, '') || '/';
}

const STATE_LABEL: Record<ToolItem['state'], string> = {
  waiting: 'Waiting for approval',
  running: 'Running…',
  done: 'Done',
  error: 'Failed',
  denied: 'Not run',
  interrupted: 'Interrupted',
};

type Revert = (path: string) => void;

export function ToolCard({ item, onDecide, onRevert }: { item: ToolItem; onDecide: Decide; onRevert?: Revert }) {
  if (item.name === 'bash') return <BashCard item={item} onDecide={onDecide} />;
  if (item.name === EDITOR) return <EditorCard item={item} onDecide={onDecide} onRevert={onRevert} />;
  if (item.name === 'todo_write') return <TodoCard item={item} />;
  if (SEARCH_TOOLS.has(item.name)) return <SearchCard item={item} onDecide={onDecide} />;
  if (WEB_TOOLS.has(item.name)) return <WebCard item={item} />;
  if (item.name === 'task') {
    return (
      <TaskCard item={item} renderTool={(t) => <ToolCard item={t} onDecide={onDecide} />}
        permission={item.permission ? <PermissionPrompt permission={item.permission} onDecide={onDecide} /> : undefined} />
    );
  }
  if (isMcpTool(item.name)) {
    return <McpCard item={item} permission={item.permission ? <PermissionPrompt permission={item.permission} onDecide={onDecide} /> : undefined} />;
  }
  return <GenericCard item={item} onDecide={onDecide} />;
}

function StateChip({ item }: { item: ToolItem }) {
  const r = item.result;
  let label = STATE_LABEL[item.state];
  if (item.name === 'bash' && r && r.exitCode !== undefined && r.exitCode !== null) label = `exit ${r.exitCode}`;
  if (r?.timedOut) label = 'timed out';
  return <span class={`chip state-${item.state}${r && r.exitCode ? ' nonzero' : ''}`}>{label}</span>;
}

function BashCard({ item, onDecide }: { item: ToolItem; onDecide: Decide }) {
  const cmd = str(item.input.command);
  const r = item.result;
  const firstLine = cmd.split('\n')[0];
  return (
    <section class={`card tool-card bash ${item.state}`} aria-label={`Command: ${firstLine}`}>
      <div class="tool-head">
        <span class="tool-icon" aria-hidden="true">$</span>
        <code class="tool-title">{firstLine}{cmd.includes('\n') ? ' …' : ''}</code>
        <span class="tool-meta">
          {r?.durationMs !== undefined && <span class="muted">{formatDuration(r.durationMs)}</span>}
          <StateChip item={item} />
        </span>
      </div>
      {cmd.includes('\n') && <pre class="code-block"><code class="hljs" dangerouslySetInnerHTML={{ __html: highlight(cmd, 'bash') }} /></pre>}
      {item.permission && <PermissionPrompt permission={item.permission} onDecide={onDecide} />}
      {r && <BashOutput r={r} />}
    </section>
  );
}

function BashOutput({ r }: { r: ToolResultView }) {
  const hasSplit = r.stdout !== undefined || r.stderr !== undefined;
  return (
    <div class="tool-output">
      {hasSplit ? (
        <>
          {r.stdout ? <Output text={r.stdout} label="Output" /> : null}
          {r.stderr ? <Output text={r.stderr} label="Errors (stderr)" cls="stderr" /> : null}
          {!r.stdout && !r.stderr && <p class="muted small">No output.</p>}
        </>
      ) : (
        r.content ? <Output text={r.content} label="Output" cls={r.isError ? 'stderr' : ''} /> : <p class="muted small">No output.</p>
      )}
      {r.timedOut && <p class="notice-inline warn">The command was stopped: it ran longer than the time limit.</p>}
      {!!r.truncatedBytes && <p class="muted small">{formatBytes(r.truncatedBytes)} of output were left out.</p>}
    </div>
  );
}

/** Preformatted output; long output is collapsed with "Show all". */
export function Output({ text, label, cls = '', lang }: { text: string; label: string; cls?: string; lang?: string | null }) {
  const lines = text.split('\n');
  const long = lines.length > COLLAPSE_LINES || text.length > COLLAPSE_CHARS;
  const [all, setAll] = useState(false);
  let shown = text;
  if (long && !all) {
    shown = lines.slice(0, COLLAPSE_LINES).join('\n');
    if (shown.length > COLLAPSE_CHARS) shown = shown.slice(0, COLLAPSE_CHARS);
  }
  return (
    <div class={`output ${cls}`}>
      <div class="output-label">{label}</div>
      {lang ? (
        <pre class="code-block"><code class="hljs" dangerouslySetInnerHTML={{ __html: highlight(shown, lang) }} /></pre>
      ) : (
        <pre class="output-text">{shown}</pre>
      )}
      {long && (
        <button type="button" class="btn subtle small show-all" aria-expanded={all} onClick={() => setAll(!all)}>
          {all ? 'Show less' : `Show all (${lines.length} lines)`}
        </button>
      )}
    </div>
  );
}

function EditorCard({ item, onDecide, onRevert }: { item: ToolItem; onDecide: Decide; onRevert?: Revert }) {
  const cmd = str(item.input.command);
  const path = stripWorkspace(str(item.input.path));
  const diff = editorDiff(item.input);
  const verb = cmd === 'create' ? 'Create' : cmd === 'str_replace' ? 'Edit' : cmd === 'insert' ? 'Insert into' : cmd === 'view' ? 'Read' : cmd || 'Edit';
  const r = item.result;
  return (
    <section class={`card tool-card editor ${item.state}`} aria-label={`${verb} ${path}`}>
      <div class="tool-head">
        <span class="tool-icon" aria-hidden="true">✎</span>
        <span class="tool-title"><span class="verb">{verb}</span> <code>{path}</code></span>
        <span class="tool-meta">
          {diff && <span class="diffstat"><span class="add">+{diff.added}</span> <span class="del">−{diff.removed}</span></span>}
          <StateChip item={item} />
        </span>
      </div>
      {item.permission && <PermissionPrompt permission={item.permission} onDecide={onDecide} />}
      {diff && <DiffView diff={diff} />}
      {onRevert && cmd !== 'view' && item.state === 'done' && (
        <div class="tool-actions">
          <button type="button" class="btn subtle small revert"
            title="Restore the file as it was before Claude's most recent edit to it"
            onClick={() => onRevert(str(item.input.path))}>
            Undo Claude's last edit to {path}
          </button>
        </div>
      )}
      {r && (cmd === 'view' || r.isError) && (
        <div class="tool-output">
          <Output text={r.content} label={r.isError ? 'Error' : 'Content'} cls={r.isError ? 'stderr' : ''} />
        </div>
      )}
    </section>
  );
}

const DIFF_COLLAPSE = 40;

/** A unified diff as rows: line numbers, +/−/context, highlighted hunk headers. */
export function DiffView({ diff }: { diff: FileDiff }) {
  const [all, setAll] = useState(false);
  const total = diff.hunks.reduce((n, h) => n + h.lines.length + 1, 0);
  const lang = languageForPath(diff.path);
  let budget = all ? Infinity : DIFF_COLLAPSE;
  return (
    <div class="diff" role="table" aria-label={`Changes to ${diff.path}`}>
      {diff.hunks.map((h, hi) => {
        if (budget <= 0) return null;
        budget--;
        const rows = h.lines.slice(0, Math.max(0, budget));
        budget -= rows.length;
        return (
          <div key={hi} class="hunk" role="rowgroup">
            <div class="diff-row hunk-head" role="row">
              <span role="cell" class="ln" />
              <span role="cell" class="ln" />
              <span role="cell" class="diff-text">
                {diff.relative ? `@@ ${diff.kind === 'str_replace' ? 'replaced text' : ''} @@` : `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`}
              </span>
            </div>
            {rows.map((l, i) => (
              <div key={i} class={`diff-row ${l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'ctx'}`} role="row">
                <span role="cell" class="ln">{diff.relative ? '' : l.oldNo ?? ''}</span>
                <span role="cell" class="ln">{diff.relative ? '' : l.newNo ?? ''}</span>
                <span role="cell" class="diff-text">
                  <span class="sign" aria-hidden="true">{l.op === ' ' ? ' ' : l.op === '-' ? '−' : '+'}</span>
                  <span class="sr-only">{l.op === '+' ? 'added: ' : l.op === '-' ? 'removed: ' : ''}</span>
                  <code dangerouslySetInnerHTML={{ __html: highlight(l.text, lang) }} />
                </span>
              </div>
            ))}
          </div>
        );
      })}
      {total > DIFF_COLLAPSE && (
        <button type="button" class="btn subtle small show-all" aria-expanded={all} onClick={() => setAll(!all)}>
          {all ? 'Show less' : `Show all (${total} lines)`}
        </button>
      )}
    </div>
  );
}

/** The glob and grep tools (card "search"): the pattern and the result list. */
const SEARCH_TOOLS = new Set(['glob', 'grep']);
const SEARCH_MAX_SHOWN = 50;

/** The result text split into the found lines and the server's notes. */
export function searchResults(content: string): { lines: string[]; header: string; note: string } {
  const all = content.split('\n').filter((l) => l !== '');
  let header = '';
  let note = '';
  if (all.length && /^Found \d+ files?$/.test(all[0])) header = all.shift() as string;
  if (all.length && /^\(Results are truncated/.test(all[all.length - 1])) note = all.pop() as string;
  if (all.length === 1 && /^No (files|matches) found$/.test(all[0])) return { lines: [], header: all[0], note };
  return { lines: all, header, note };
}

function SearchCard({ item, onDecide }: { item: ToolItem; onDecide: Decide }) {
  const r = item.result;
  const [all, setAll] = useState(false);
  const pattern = str(item.input.pattern);
  const where = str(item.input.path);
  const opts = [item.input.glob ? `glob ${str(item.input.glob)}` : '', item.input.type ? `type ${str(item.input.type)}` : '',
    item.input.output_mode ? str(item.input.output_mode) : '', item.input['-i'] ? 'ignore case' : ''].filter(Boolean).join(', ');
  const res = r && !r.isError ? searchResults(r.content) : null;
  const shown = res ? (all ? res.lines : res.lines.slice(0, SEARCH_MAX_SHOWN)) : [];
  return (
    <section class={`card tool-card search ${item.state}`} aria-label={`Search (${item.name}): ${pattern}`}>
      <div class="tool-head">
        <span class="tool-icon" aria-hidden="true">⌕</span>
        <span class="muted small">{item.name === 'glob' ? 'Find files' : 'Search'}</span>
        <code class="tool-title search-pattern">{pattern}</code>
        {where && <span class="muted small">in {stripWorkspace(where)}</span>}
        <span class="tool-meta">
          {res && <span class="muted small search-count">{res.lines.length ? `${res.lines.length} result${res.lines.length === 1 ? '' : 's'}` : 'none'}</span>}
          <StateChip item={item} />
        </span>
      </div>
      {opts && <p class="muted small search-options">{opts}</p>}
      {item.permission && <PermissionPrompt permission={item.permission} onDecide={onDecide} />}
      {r && r.isError && <Output text={r.content} label="Error" cls="stderr" />}
      {res && (
        <div class="output search-results">
          {res.header && <div class="output-label">{res.header}</div>}
          {shown.length > 0 && (
            <ul class="search-list" aria-label="Search results">
              {shown.map((l, i) => <li key={i}><code>{l}</code></li>)}
            </ul>
          )}
          {res.lines.length > SEARCH_MAX_SHOWN && (
            <button type="button" class="btn subtle small show-all" aria-expanded={all} onClick={() => setAll(!all)}>
              {all ? 'Show less' : `Show all (${res.lines.length})`}
            </button>
          )}
          {res.note && <p class="muted small search-note">{res.note}</p>}
        </div>
      )}
    </section>
  );
}

function GenericCard({ item, onDecide }: { item: ToolItem; onDecide: Decide }) {
  const r = item.result;
  return (
    <section class={`card tool-card ${item.state}`} aria-label={`Tool ${item.name}`}>
      <div class="tool-head">
        <span class="tool-icon" aria-hidden="true">⚙</span>
        <code class="tool-title">{item.name}</code>
        <span class="tool-meta"><StateChip item={item} /></span>
      </div>
      <Output text={JSON.stringify(item.input, null, 2)} label="Input" lang="json" />
      {item.permission && <PermissionPrompt permission={item.permission} onDecide={onDecide} />}
      {r && <Output text={r.content} label={r.isError ? 'Error' : 'Result'} cls={r.isError ? 'stderr' : ''} />}
    </section>
  );
}

const OUTCOME: Record<string, string> = {
  allow: 'Allowed',
  deny: 'Denied',
  expired: 'The request expired before it was answered.',
  cancelled: 'The request was withdrawn (the run ended).',
};

/** Allow once / Always allow / Deny (with an optional message to Claude). */
export function PermissionPrompt({ permission: p, onDecide }: { permission: Permission; onDecide: Decide }) {
  const [message, setMessage] = useState('');
  // exit_plan_mode: the plan card (approve into a mode / keep planning).
  if (p.tool === PLAN_TOOL) return <PlanCard permission={p} onDecide={onDecide} />;
  if (p.status !== 'pending') {
    let text = OUTCOME[p.status] || p.status;
    if (p.status === 'allow') text = p.remember ? 'Always allowed for this session' : 'Allowed once';
    if (p.status === 'deny' && p.message) text = `Denied: “${p.message}”`;
    if (p.by && (p.status === 'allow' || p.status === 'deny')) text += ` (answered by ${p.by})`;
    return <p class={`perm-outcome ${p.status}`}>{text}</p>;
  }
  const id = `perm-msg-${p.request_id}`;
  const input = p.input || {};
  return (
    <div class="perm" role="group" aria-label="Claude asks for permission">
      <p class="perm-summary"><strong>Claude wants to:</strong> {p.summary || p.tool}</p>
      {p.tool === 'bash' && typeof input.command === 'string' && input.command.includes('\n') && (
        <pre class="output-text">{input.command}</pre>
      )}
      <label for={id} class="sr-only">Message to Claude (optional)</label>
      <input id={id} class="perm-message" placeholder="Optional message to Claude (e.g. why you deny)" value={message}
        onInput={(e) => setMessage((e.target as HTMLInputElement).value)} disabled={p.answering} />
      <div class="perm-actions">
        <button type="button" class="btn primary" disabled={p.answering}
          onClick={() => onDecide(p.request_id, 'allow', false, message.trim() || undefined)}>Allow once</button>
        <button type="button" class="btn" disabled={p.answering}
          onClick={() => onDecide(p.request_id, 'allow', true, message.trim() || undefined)}>Always allow</button>
        <button type="button" class="btn danger" disabled={p.answering}
          onClick={() => onDecide(p.request_id, 'deny', false, message.trim() || undefined)}>Deny</button>
        {p.answering && <span class="muted small" role="status">Sending your answer…</span>}
      </div>
    </div>
  );
}
