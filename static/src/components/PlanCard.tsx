import { useState } from 'preact/hooks';
import { renderMarkdown } from '../lib/markdown';
import type { Permission } from '../lib/transcript';

/** onDecide with the mode a plan is approved into (POST …/permissions/<id> {"mode"}). */
export type PlanDecide = (requestId: string, decision: 'allow' | 'deny', remember: boolean, message?: string,
  mode?: 'acceptEdits' | 'default') => void;

export const PLAN_TOOL = 'exit_plan_mode';

/**
 * Claude's plan (exit_plan_mode in plan mode), waiting for the person:
 * approve it into "accept edits" or "ask each time" (the session leaves
 * plan mode and the run goes on), or keep planning with a message.
 */
export function PlanCard({ permission: p, onDecide }: { permission: Permission; onDecide: PlanDecide }) {
  const [message, setMessage] = useState('');
  const plan = typeof p.input?.plan === 'string' ? p.input.plan : '';
  if (p.status !== 'pending') {
    let text = 'The plan request ended before it was answered.';
    if (p.status === 'allow') text = 'Plan approved: Claude carries it out.';
    if (p.status === 'deny') text = p.message ? `Keep planning: “${p.message}”` : 'Keep planning.';
    if (p.status === 'expired') text = 'The plan expired before it was answered.';
    return <p class={`perm-outcome plan-outcome ${p.status}`}>{text}</p>;
  }
  const id = `plan-msg-${p.request_id}`;
  const msg = message.trim() || undefined;
  return (
    <div class="perm plan-card" role="group" aria-label="Claude's plan, waiting for your approval">
      <p class="perm-summary"><strong>Claude's plan is ready.</strong> Approve it to leave plan mode, or ask for changes.</p>
      <div class="md plan-body" dangerouslySetInnerHTML={{ __html: renderMarkdown(plan, true) }} />
      <label for={id} class="sr-only">Message to Claude (optional)</label>
      <input id={id} class="perm-message plan-message" placeholder="Optional: what should change in the plan?" value={message}
        onInput={(e) => setMessage((e.target as HTMLInputElement).value)} disabled={p.answering} />
      <div class="perm-actions">
        <button type="button" class="btn primary plan-accept-edits" disabled={p.answering}
          onClick={() => onDecide(p.request_id, 'allow', false, msg, 'acceptEdits')}>Approve plan → accept edits</button>
        <button type="button" class="btn plan-ask" disabled={p.answering}
          onClick={() => onDecide(p.request_id, 'allow', false, msg, 'default')}>Approve plan → ask each time</button>
        <button type="button" class="btn plan-keep" disabled={p.answering}
          onClick={() => onDecide(p.request_id, 'deny', false, msg)}>Keep planning</button>
        {p.answering && <span class="muted small" role="status">Sending your answer…</span>}
      </div>
    </div>
  );
}
