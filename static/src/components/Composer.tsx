import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { filterCommands, findCommand, parseSlash, slashQuery, type SlashCommand } from '../lib/commands';
import { SlashMenu } from './SlashMenu';
import { mentionedFiles, type PendingImage } from '../lib/images';
import { useImageAttachments } from './Attachments';
import { useMentions } from './MentionMenu';

interface Props {
  value: string;
  onInput: (v: string) => void;
  /** extras: images pasted/dropped/picked, files chosen in the @ menu and still mentioned. */
  onSend: (v: string, extras?: { images: PendingImage[]; files: string[] }) => void;
  /** For the @ menu's file search. */
  sessionId?: string;
  onStop: () => void;
  /** A message is being sent (no run id yet). */
  busy: boolean;
  /** Claude works on a message: Stop is offered; what is sent now queues behind it. */
  running: boolean;
  statusText: string;
  /** Slash commands for the autocomplete (built-ins and the session's custom ones). */
  commands?: SlashCommand[];
  /** A slash command was entered ("/name args"): never sent to Claude as text. */
  onCommand?: (name: string, args: string) => void;
  /** Shift+Tab: the next permission mode. */
  onCycleMode?: () => void;
  /** Under the box: the model and mode controls (ModelModeBar). */
  toolbar?: ComponentChildren;
}

/**
 * The message box: Enter sends, Shift+Enter adds a line. It stays open while
 * Claude works: a message sent then waits in the session's queue.
 */
export function Composer({
  value, onInput, onSend, onStop, busy, running, statusText, commands, onCommand, onCycleMode, toolbar, sessionId,
}: Props) {
  const ref = useRef<HTMLTextAreaElement>(null);
  // ---- @-mentions and images (MentionMenu.tsx, Attachments.tsx) ----
  const mention = useMentions(sessionId, value, ref, onInput);
  const att = useImageAttachments();
  // ---- slash commands: the menu while the name is typed ----
  const [sel, setSel] = useState(0);
  const [closedFor, setClosedFor] = useState<string | null>(null);
  const [unknown, setUnknown] = useState<string | null>(null);
  const q = slashQuery(value);
  const matches = q !== null && commands ? filterCommands(commands, q) : [];
  const menuOpen = matches.length > 0 && closedFor !== value;
  const selected = Math.min(sel, Math.max(0, matches.length - 1));
  const runCommand = (name: string, args: string) => {
    setUnknown(null);
    onInput('');
    onCommand?.(name, args);
  };
  const pick = (c: SlashCommand) => runCommand(c.name, '');
  const complete = (c: SlashCommand) => {
    onInput(`/${c.name} `);
    setSel(0);
  };

  // Grow with the text, up to a limit (height through a class per line count: no inline styles).
  const lines = Math.min(10, Math.max(1, value.split('\n').length));

  useEffect(() => {
    if (window.matchMedia?.('(pointer: fine)').matches) ref.current?.focus();
  }, []);

  const submit = () => {
    if (!value.trim()) return;
    const cmd = commands && onCommand ? parseSlash(value) : null;
    if (cmd) {
      if (findCommand(commands!, cmd.name)) runCommand(cmd.name, cmd.args);
      else setUnknown(cmd.name);
      return;
    }
    if (busy) return;
    onSend(value, { images: att.images, files: mentionedFiles(value, mention.picked()) });
    att.clear();
    mention.reset();
  };

  return (
    <form class="composer" onSubmit={(e) => { e.preventDefault(); submit(); }} onDragOver={att.onDragOver} onDrop={att.onDrop}>
      {mention.menu}
      {att.pending}
      {menuOpen && <SlashMenu id="slash-menu" items={matches} selected={selected} onPick={pick} onHover={setSel} />}
      <label for="composer-input" class="sr-only">Message to Claude</label>
      <textarea
        id="composer-input"
        ref={ref}
        class={`rows-${lines}`}
        value={value}
        placeholder={running ? 'Claude is working… type your next message' : 'Message Claude…'}
        aria-describedby="composer-hint"
        onInput={(e) => { setUnknown(null); setSel(0); onInput((e.target as HTMLTextAreaElement).value); }}
        aria-expanded={commands || sessionId ? menuOpen || mention.open : undefined}
        aria-controls={menuOpen ? 'slash-menu' : mention.open ? 'mention-menu' : undefined}
        aria-activedescendant={menuOpen ? `slash-menu-${selected}` : mention.open ? mention.activeId : undefined}
        aria-autocomplete={commands || sessionId ? 'list' : undefined}
        onPaste={att.onPaste}
        onKeyDown={(e) => {
          if (mention.onKeyDown(e)) return;
          if (menuOpen && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
            e.preventDefault();
            const n = matches.length;
            setSel((selected + (e.key === 'ArrowDown' ? 1 : n - 1)) % n);
          } else if (menuOpen && e.key === 'Tab' && !e.shiftKey) {
            e.preventDefault();
            complete(matches[selected]);
          } else if (menuOpen && e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            pick(matches[selected]);
          } else if (menuOpen && e.key === 'Escape') {
            e.preventDefault();
            setClosedFor(value);
          } else if (e.key === 'Tab' && e.shiftKey && onCycleMode) {
            e.preventDefault();
            onCycleMode();
          } else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
            e.preventDefault();
            submit();
          } else if (e.key === 'Escape' && running) {
            e.preventDefault();
            onStop();
          }
        }}
      />
      <div class="composer-side">
        {toolbar}
        <span id="composer-hint" class="composer-status" role={unknown ? 'alert' : undefined}>
          {unknown ? `Unknown command /${unknown}. Type / to see the commands.`
            : statusText || 'Enter to send · / for commands · @ for files · Shift+Tab: mode'}
        </span>
        <div class="composer-buttons">
          {sessionId && att.picker}
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
