import { useEffect, useRef } from 'preact/hooks';

interface Props {
  value: string;
  onInput: (v: string) => void;
  onSend: (v: string) => void;
  onStop: () => void;
  /** A message is being sent (no run id yet). */
  busy: boolean;
  /** Claude works on a message: Stop is offered; what is sent now queues behind it. */
  running: boolean;
  statusText: string;
}

/**
 * The message box: Enter sends, Shift+Enter adds a line. It stays open while
 * Claude works: a message sent then waits in the session's queue.
 */
export function Composer({ value, onInput, onSend, onStop, busy, running, statusText }: Props) {
  const ref = useRef<HTMLTextAreaElement>(null);

  // Grow with the text, up to a limit (height through a class per line count: no inline styles).
  const lines = Math.min(10, Math.max(1, value.split('\n').length));

  useEffect(() => {
    if (window.matchMedia?.('(pointer: fine)').matches) ref.current?.focus();
  }, []);

  const submit = () => {
    if (busy || !value.trim()) return;
    onSend(value);
  };

  return (
    <form class="composer" onSubmit={(e) => { e.preventDefault(); submit(); }}>
      <label for="composer-input" class="sr-only">Message to Claude</label>
      <textarea
        id="composer-input"
        ref={ref}
        class={`rows-${lines}`}
        value={value}
        placeholder={running ? 'Claude is working… type your next message' : 'Message Claude…'}
        aria-describedby="composer-hint"
        onInput={(e) => onInput((e.target as HTMLTextAreaElement).value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
            e.preventDefault();
            submit();
          } else if (e.key === 'Escape' && running) {
            e.preventDefault();
            onStop();
          }
        }}
      />
      <div class="composer-side">
        <span id="composer-hint" class="composer-status">{statusText || 'Enter to send · Shift+Enter for a new line'}</span>
        <div class="composer-buttons">
          {running && (
            <button type="button" class="btn danger" onClick={onStop} aria-label="Stop Claude">Stop</button>
          )}
          <button type="submit" class="btn primary" disabled={busy || !value.trim()}
            title={running ? 'Queue this message: Claude starts on it after the current one' : undefined}>Send</button>
        </div>
      </div>
    </form>
  );
}
