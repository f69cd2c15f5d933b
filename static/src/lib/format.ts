// Small formatting helpers and the per-session draft store.
import type { UsageTotals } from './types';

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  const u = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${u[i]}`;
}

export function formatTokens(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

export function formatCost(usd: number): string {
  if (!usd) return '$0.00';
  if (usd < 0.01) return `$${usd.toFixed(4)}`;
  if (usd < 1) return `$${usd.toFixed(3)}`;
  return `$${usd.toFixed(2)}`;
}

export function totalTokens(u: UsageTotals): number {
  return (u.input_tokens || 0) + (u.output_tokens || 0) + (u.cache_creation_input_tokens || 0) + (u.cache_read_input_tokens || 0);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** "just now", "5 min ago", "3 h ago", "yesterday", else a date. */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  if (s < 2 * 86400) return 'yesterday';
  if (s < 7 * 86400) return `${Math.round(s / 86400)} days ago`;
  return new Date(t).toLocaleDateString();
}

// ---- drafts: what the person typed, per session, kept for the tab's life ----
const DRAFT_PREFIX = 'cw:draft:';

function store(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

export function loadDraft(sessionId: string): string {
  return store()?.getItem(DRAFT_PREFIX + sessionId) ?? '';
}

export function saveDraft(sessionId: string, text: string): void {
  const st = store();
  if (!st) return;
  try {
    if (text) st.setItem(DRAFT_PREFIX + sessionId, text);
    else st.removeItem(DRAFT_PREFIX + sessionId);
  } catch {
    /* storage full or disabled: the draft lives in the page only */
  }
}

export function clearAllDrafts(): void {
  const st = store();
  if (!st) return;
  for (let i = st.length - 1; i >= 0; i--) {
    const k = st.key(i);
    if (k && k.startsWith(DRAFT_PREFIX)) st.removeItem(k);
  }
}
