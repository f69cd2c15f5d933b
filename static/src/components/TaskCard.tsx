// The task tool's card: the sub-agent's label and prompt, its steps nested
// inside (its text and its own tool cards, live from events carrying
// parent_tool_use_id, or from the steps its result kept after a reload),
// and what it cost.
import type { ComponentChildren } from 'preact';
import { formatCost, formatTokens, totalTokens } from '../lib/format';
import { renderMarkdown } from '../lib/markdown';
import type { SubStep, ViewItem } from '../lib/transcript';
import './TodoList.css';

type ToolItem = Extract<ViewItem, { kind: 'tool' }>;

const STATE: Record<ToolItem['state'], string> = {
  waiting: 'Waiting', running: 'Working…', done: 'Done', error: 'Failed', denied: 'Not run', interrupted: 'Interrupted',
};

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export function TaskCard({ item, renderTool, permission }: {
  item: ToolItem;
  /** Draws one of the sub-agent's tool calls (the ordinary tool cards). */
  renderTool: (t: Extract<SubStep, { kind: 'tool' }>) => ComponentChildren;
  /** The approval prompt, if the task call itself waits for one. */
  permission?: ComponentChildren;
}) {
  const desc = str(item.input.description) || 'Sub-agent';
  const type = str(item.input.subagent_type);
  const prompt = str(item.input.prompt);
  const r = item.result;
  const usage = r?.subagent?.usage;
  const steps = item.children || [];
  const last = steps[steps.length - 1];
  // The report is the sub-agent's last text; shown apart only when the steps do not end with it.
  const showResult = r && (r.isError || !last || last.kind !== 'text');
  return (
    <section class={`card tool-card task ${item.state}`} aria-label={`Sub-agent: ${desc}`} data-tool-id={item.id}>
      <div class="tool-head">
        <span class="tool-icon" aria-hidden="true">↪</span>
        <span class="tool-title"><span class="verb">Task</span> {desc}</span>
        <span class="tool-meta">
          {type && type !== 'general-purpose' && <span class="chip">{type}</span>}
          {usage && <span class="muted" title="Tokens and cost of the sub-agent's model calls">{formatTokens(totalTokens(usage))} tokens · {formatCost(usage.cost_usd)}</span>}
          <span class={`chip state-${item.state}`}>{STATE[item.state]}</span>
        </span>
      </div>
      {prompt && (
        <details class="task-prompt">
          <summary>Prompt</summary>
          <div class="md" dangerouslySetInnerHTML={{ __html: renderMarkdown(prompt, true) }} />
        </details>
      )}
      {permission}
      {steps.length > 0 && (
        <div class="task-steps" data-testid="task-steps">
          {steps.map((st) => (st.kind === 'text'
            ? <div key={st.key} class="task-text"><div class="md" dangerouslySetInnerHTML={{ __html: renderMarkdown(st.text, !st.streaming) }} /></div>
            : <div key={st.key} class="task-step">{renderTool(st)}</div>))}
        </div>
      )}
      {!!r?.subagent?.steps_dropped && (
        <p class="muted small pad">{r.subagent.steps_dropped} later step{r.subagent.steps_dropped === 1 ? ' is' : 's are'} not kept for reloads (too many).</p>
      )}
      {item.state === 'running' && steps.length === 0 && <p class="muted small pad">Starting the sub-agent…</p>}
      {showResult && (
        <div class="tool-output task-report">
          <div class="output-label">{r.isError ? 'Error' : 'Report'}</div>
          <pre class="output-text">{r.content}</pre>
        </div>
      )}
    </section>
  );
}
