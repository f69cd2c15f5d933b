// The session's todo list (the todo_write tool): a live checklist pinned
// above the composer (collapsible, with counts; the item in progress is
// highlighted and named in the header), and the compact card a todo_write
// call gets in the transcript.
import { useState } from 'preact/hooks';
import { todosOf, type TodoItem, type ViewItem } from '../lib/transcript';
import './TodoList.css';

const BOX: Record<string, string> = { completed: '☑', in_progress: '◐', pending: '☐' };
const STATUS_WORD: Record<string, string> = { completed: 'done', in_progress: 'in progress', pending: 'to do' };

function counts(todos: TodoItem[]) {
  const done = todos.filter((t) => t.status === 'completed').length;
  const now = todos.find((t) => t.status === 'in_progress') || null;
  return { done, total: todos.length, now };
}

function Items({ todos }: { todos: TodoItem[] }) {
  return (
    <ul class="todo-items">
      {todos.map((t, i) => (
        <li key={t.id ?? i} class={`todo-item ${t.status}`} data-status={t.status}>
          <span class="todo-box" aria-hidden="true">{BOX[t.status] ?? '☐'}</span>
          <span class="todo-text">
            {t.status === 'in_progress' && t.activeForm ? t.activeForm : t.content}
            <span class="sr-only"> ({STATUS_WORD[t.status] ?? t.status})</span>
          </span>
        </li>
      ))}
    </ul>
  );
}

/** Pinned above the composer; nothing while the list is empty. */
export function TodoList({ todos }: { todos: TodoItem[] | null }) {
  const [open, setOpen] = useState(true);
  if (!todos || todos.length === 0) return null;
  const { done, total, now } = counts(todos);
  const pct = Math.round((done / total) * 10);
  return (
    <section class="todo-panel" aria-label="Claude's todo list" data-testid="todo-list">
      <button type="button" class="todo-head" aria-expanded={open} onClick={() => setOpen(!open)}>
        <span class="todo-caret" aria-hidden="true">{open ? '▾' : '▸'}</span>
        <span>Tasks</span>
        <span class="todo-count">{done}/{total} done</span>
        {now && <span class="todo-now" title={now.content}>{now.activeForm || now.content}</span>}
      </button>
      <div class="todo-progress" aria-hidden="true"><span class={`p${pct}`} /></div>
      {open && <Items todos={todos} />}
    </section>
  );
}

type ToolItem = Extract<ViewItem, { kind: 'tool' }>;

/** The transcript card of one todo_write call: the list as Claude wrote it. */
export function TodoCard({ item }: { item: ToolItem }) {
  const todos = todosOf(item.input.todos) || [];
  const { done, total } = counts(todos);
  const r = item.result;
  return (
    <section class={`card tool-card todo ${item.state}`} aria-label="Todo list update">
      <div class="tool-head">
        <span class="tool-icon" aria-hidden="true">☑</span>
        <span class="tool-title">{total ? `Todo list: ${done}/${total} done` : 'Todo list cleared'}</span>
        <span class="tool-meta">
          {r?.isError ? <span class="chip state-error">Failed</span> : !r ? <span class="chip state-running">Saving…</span> : null}
        </span>
      </div>
      {r?.isError ? <p class="notice-inline warn pad">{r.content}</p> : <Items todos={todos} />}
    </section>
  );
}
