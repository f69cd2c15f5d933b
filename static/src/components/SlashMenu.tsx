import type { SlashCommand } from '../lib/commands';

interface Props {
  id: string;
  items: SlashCommand[];
  selected: number;
  onPick: (c: SlashCommand) => void;
  onHover: (i: number) => void;
}

/**
 * The slash-command autocomplete above the message box: ↑/↓ move, Enter
 * runs, Tab completes, Esc closes (the keys are handled by the composer's
 * textarea, which keeps the focus; this list is its aria-controls).
 */
export function SlashMenu({ id, items, selected, onPick, onHover }: Props) {
  return (
    <ul id={id} class="slash-menu" role="listbox" aria-label="Slash commands">
      {items.map((c, i) => (
        <li
          key={c.name}
          id={`${id}-${i}`}
          role="option"
          aria-selected={i === selected}
          class={`slash-item${i === selected ? ' selected' : ''}`}
          onMouseDown={(e) => { e.preventDefault(); onPick(c); }}
          onMouseEnter={() => onHover(i)}
        >
          <span class="slash-name">/{c.name}</span>
          {c.argumentHint && <span class="slash-hint"> {c.argumentHint}</span>}
          <span class="slash-desc">{c.description}{c.custom ? ' (custom)' : ''}</span>
        </li>
      ))}
    </ul>
  );
}
