import { Component } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { addCodeCopyButtons, copyText, renderMarkdown } from '../lib/markdown';
import { MessageAttachments } from './Attachments';
import type { ViewItem } from '../lib/transcript';
import type { ImageBlock, TextBlock } from '../lib/types';
import { explainRunError, queueText, resumedText, retryText, stopReasonText } from '../lib/words';
import { PermissionPrompt, ToolCard } from './ToolCard';
import { Citations } from './WebResult';

type Decide = (requestId: string, decision: 'allow' | 'deny', remember: boolean, message?: string) => void;
type Remove = (runId: string) => void;
/** Retry of a failed turn: its prompt's text and blocks, sent again as a new message. */
type Retry = (text: string, blocks: Array<TextBlock | ImageBlock>) => void;

interface Props {
  items: ViewItem[];
  loading: boolean;
  sessionId: string;
  onDecide: Decide;
  onCompact: () => void;
  /** Undo Claude's last edit to a file (/workspace path). */
  onRevert?: (path: string) => void;
  /** Remove a queued message (a run that has not started). */
  onRemove?: Remove;
  onRetry?: Retry;
}

/** The conversation. Follows the bottom while new text streams in, unless the reader scrolled up. */
export function Transcript({ items, loading, onDecide, onCompact, onRevert, onRemove, onRetry }: Props) {
  const ref = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const [away, setAway] = useState(false);

  const onScroll = () => {
    const el = ref.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    stick.current = atBottom;
    setAway(!atBottom);
  };

  useLayoutEffect(() => {
    const el = ref.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [items]);

  // Scroll to the bottom once the history first appears.
  useEffect(() => {
    if (!loading && ref.current) ref.current.scrollTop = ref.current.scrollHeight;
  }, [loading]);

  return (
    <div class="transcript-wrap">
      <div class="transcript" ref={ref} onScroll={onScroll} aria-live="off" data-testid="transcript">
        {loading && items.length === 0 && <p class="muted pad" role="status">Loading the conversation…</p>}
        {!loading && items.length === 0 && (
          <div class="empty-chat">
            <h2>Start the conversation</h2>
            <p>Ask Claude to read, write or run code in this session's files. It asks before running commands or changing files, unless the session's permissions say otherwise.</p>
          </div>
        )}
        {items.map((it) => <Item key={it.key} item={it} onDecide={onDecide} onCompact={onCompact} onRevert={onRevert} onRemove={onRemove} onRetry={onRetry} />)}
      </div>
      {away && (
        <button type="button" class="btn jump" onClick={() => {
          stick.current = true;
          setAway(false);
          if (ref.current) ref.current.scrollTop = ref.current.scrollHeight;
        }}>↓ Latest</button>
      )}
    </div>
  );
}

/** Shallow equality, one level deep: view items are rebuilt on every change, mostly with equal content. */
export function itemEqual(a: ViewItem, b: ViewItem): boolean {
  if (a === b) return true;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    const va = (a as unknown as Record<string, unknown>)[k], vb = (b as unknown as Record<string, unknown>)[k];
    if (va === vb) continue;
    if (!va || !vb || typeof va !== 'object' || typeof vb !== 'object') return false;
    const oa = va as Record<string, unknown>, ob = vb as Record<string, unknown>;
    const ia = Object.keys(oa), ib = Object.keys(ob);
    if (ia.length !== ib.length) return false;
    for (const i of ia) if (oa[i] !== ob[i]) return false;
  }
  return true;
}

interface ItemProps {
  item: ViewItem; onDecide: Decide; onCompact: () => void; onRevert?: (path: string) => void; onRemove?: Remove;
  onRetry?: Retry;
}

/** One transcript entry; re-renders only when its content changed (500-message transcripts stay fast). */
class Item extends Component<ItemProps> {
  shouldComponentUpdate(next: ItemProps): boolean {
    return next.onDecide !== this.props.onDecide || next.onCompact !== this.props.onCompact ||
      next.onRevert !== this.props.onRevert || next.onRemove !== this.props.onRemove || next.onRetry !== this.props.onRetry || !itemEqual(this.props.item, next.item);
  }

  render() {
    return renderItem(this.props);
  }
}

function renderItem({ item, onDecide, onCompact, onRevert, onRemove, onRetry }: ItemProps) {
  switch (item.kind) {
    case 'user':
      if (item.queued) return <QueuedPrompt item={item} onRemove={onRemove} />;
      return (
        <div class={`msg user${item.pending ? ' pending' : ''}`}>
          {item.summary && (
            <details class="summary-block">
              <summary>Summary of the earlier conversation</summary>
              <Markdown text={item.summary} streaming={false} />
            </details>
          )}
          <MessageAttachments images={item.images} files={item.files} />
          {item.text && <div class="bubble">{item.text}</div>}
          {item.text && !item.pending && <CopyButton text={item.text} what="message" />}
          {item.pending && <span class="sending muted">Sending…</span>}
        </div>
      );
    case 'text':
      return (
        <div class={`msg assistant${item.streaming ? ' streaming' : ''}`}>
          <Markdown text={item.text} streaming={item.streaming} />
          {item.citations && item.citations.length > 0 && <Citations citations={item.citations} />}
          {!item.streaming && <CopyButton text={item.text} what="answer" />}
        </div>
      );
    case 'thinking':
      return (
        <details class="thinking">
          <summary>{item.streaming ? 'Thinking…' : 'Thought process'}</summary>
          <div class="thinking-body">{item.text}</div>
        </details>
      );
    case 'redacted':
      return <div class="thinking muted">Some of Claude's reasoning is hidden.</div>;
    case 'tool':
      return <ToolCard item={item} onDecide={onDecide} onRevert={onRevert} />;
    case 'permission':
      return (
        <div class="card tool-card waiting">
          <div class="tool-head"><span class="tool-name">{item.permission.tool}</span></div>
          <PermissionPrompt permission={item.permission} onDecide={onDecide} />
        </div>
      );
    case 'notice':
      return <Notice item={item} onCompact={onCompact} onRetry={onRetry} />;
  }
}

/** A message that waits to start: marked "Queued", where it stands, and a remove button. */
function QueuedPrompt({ item, onRemove }: { item: Extract<ViewItem, { kind: 'user' }>; onRemove?: Remove }) {
  const where = queueText(item.queued);
  const label = item.runKind === 'compact' ? 'Compact the conversation' : item.text;
  return (
    <div class={`msg user queued${item.removing ? ' removing' : ''}`} data-run-id={item.runId}>
      {label && <div class={`bubble${item.runKind === 'compact' ? ' muted' : ''}`}>{label}</div>}
      <div class="queued-meta">
        <span class="queue-pos" role="status">{where}</span>
        {onRemove && item.runId && (
          <button type="button" class="icon-btn remove-queued" disabled={item.removing}
            aria-label="Remove this queued message" title="Remove this message before Claude starts on it"
            onClick={() => onRemove(item.runId!)}>×</button>
        )}
      </div>
    </div>
  );
}

function Markdown({ text, streaming }: { text: string; streaming: boolean }) {
  const html = renderMarkdown(text, !streaming);
  const ref = useRef<HTMLDivElement>(null);
  // Copy buttons on code blocks, once the answer is complete.
  useLayoutEffect(() => {
    if (!streaming && ref.current) addCodeCopyButtons(ref.current);
  }, [html, streaming]);
  return <div class="md" ref={ref} dangerouslySetInnerHTML={{ __html: html }} />;
}

/** Copies a message's text (the markdown source for Claude's answers). */
function CopyButton({ text, what }: { text: string; what: string }) {
  const [done, setDone] = useState<null | boolean>(null);
  useEffect(() => {
    if (done === null) return;
    const t = setTimeout(() => setDone(null), 1500);
    return () => clearTimeout(t);
  }, [done]);
  return (
    <button type="button" class="btn subtle copy-msg" aria-label={`Copy this ${what}`}
      onClick={() => { void copyText(text).then(setDone); }}>
      {done === null ? 'Copy' : done ? 'Copied' : 'Copy failed'}
    </button>
  );
}

function Notice({ item, onCompact, onRetry }: { item: Extract<ViewItem, { kind: 'notice' }>; onCompact: () => void; onRetry?: Retry }) {
  const d = item.data as Record<string, unknown>;
  const retry = d.retry as { text: string; blocks: unknown[] } | undefined;
  let title = '';
  let next = '';
  let compact = false;
  switch (item.code) {
    case 'retrying':
      title = retryText(Number(d.attempt) || 1, Number(d.delay_ms) || 0, String(d.reason ?? ''));
      break;
    case 'run_error': {
      const ex = explainRunError(String(d.type ?? ''), String(d.message ?? ''));
      title = ex.title;
      next = ex.next;
      compact = /compact/i.test(ex.next);
      break;
    }
    case 'cancelled':
      title = 'Stopped.';
      next = `${typeof d.by === 'string' && d.by ? `By ${d.by}. ` : ''}What Claude had written so far is kept. Send a message to go on.`;
      break;
    case 'stop_reason': {
      const ex = stopReasonText(String(d.stop_reason ?? ''));
      title = ex.title;
      next = ex.next;
      break;
    }
    case 'retried':
      title = `The Claude API call was retried (attempt ${Number(d.attempt) || 1}${d.reason ? `: ${String(d.reason)}` : ''}).`;
      break;
    case 'compacting':
      title = 'Compacting the conversation…';
      break;
    case 'compacted':
      title = `The earlier conversation was summarised (${d.messages_before} → ${d.messages_after} messages).`;
      break;
    case 'nothing_to_compact':
      title = 'Nothing to compact yet.';
      break;
    case 'cleared':
      title = 'Context cleared: a new conversation starts here.';
      next = 'The files are unchanged; the earlier conversation is archived in the session.';
      break;
    case 'resumed': {
      const ex = resumedText(String(d.redo ?? 'message'));
      title = ex.title;
      next = ex.next;
      break;
    }
    case 'partial':
      title = 'Part of this answer was missed while disconnected.';
      next = 'It appears in full when Claude finishes.';
      break;
    default:
      title = item.code;
  }
  return (
    <div class={`notice ${item.level}`} role={item.level === 'error' ? 'alert' : 'status'}>
      <strong>{title}</strong>
      {next && <span> {next}</span>}
      {compact && <button type="button" class="btn subtle" onClick={onCompact}>Compact now</button>}
      {item.code === 'run_error' && onRetry && retry && (
        <button type="button" class="btn subtle retry-turn" title="Send this turn's message again"
          onClick={() => onRetry(retry.text, retry.blocks as Array<TextBlock | ImageBlock>)}>Retry</button>
      )}
    </div>
  );
}
