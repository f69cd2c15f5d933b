import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../lib/api';
import { mentionAt } from '../lib/images';

/**
 * The @ menu: typing @ in the composer searches the session's files (fuzzy,
 * best first, GET …/files/search); choosing one inserts "@path ". The files
 * chosen are attached to the message when it is sent (if still mentioned).
 */
export function useMentions(sessionId: string | undefined, value: string,
  ref: { current: HTMLTextAreaElement | null }, onInput: (v: string) => void) {
  const caret = ref.current && document.activeElement === ref.current ? ref.current.selectionStart : value.length;
  const m = sessionId ? mentionAt(value, caret) : null;
  const [items, setItems] = useState<string[]>([]);
  const [forKey, setForKey] = useState('');
  const [sel, setSel] = useState(0);
  const [closed, setClosed] = useState<string | null>(null);
  const picked = useRef<string[]>([]);
  const key = m ? `${m.start}:${m.query}` : '';

  useEffect(() => {
    if (!m || !sessionId) return;
    const ac = new AbortController();
    const t = setTimeout(() => {
      api.searchFiles(sessionId, m.query, 20, ac.signal).then((r) => {
        setItems(r.results.map((x) => x.path));
        setForKey(key);
        setSel(0);
      }).catch(() => { /* the menu just stays closed */ });
    }, 80);
    return () => { clearTimeout(t); ac.abort(); };
  }, [sessionId, key]); // eslint-disable-line react-hooks/exhaustive-deps

  const open = !!m && forKey === key && items.length > 0 && closed !== key;
  const selected = Math.min(sel, Math.max(0, items.length - 1));

  const choose = (path: string) => {
    if (!m) return;
    const before = value.slice(0, m.start);
    const after = value.slice(m.start + 1 + m.query.length);
    const ins = `@${path} `;
    if (!picked.current.includes(path)) picked.current.push(path);
    onInput(before + ins + after.replace(/^ /, ''));
    setClosed(null);
    setItems([]);
    const at = before.length + ins.length;
    requestAnimationFrame(() => {
      const el = ref.current;
      if (el) { el.focus(); el.setSelectionRange(at, at); }
    });
  };

  return {
    open,
    /** The option the keys act on (aria-activedescendant). */
    activeId: `mention-menu-${selected}`,
    /** Paths chosen from the menu since the last send. */
    picked: () => picked.current.slice(),
    reset: () => { picked.current = []; },
    /** Handles the menu's keys; true when the key was used. */
    onKeyDown: (e: KeyboardEvent): boolean => {
      if (!open || e.isComposing) return false;
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const n = items.length;
        setSel((selected + (e.key === 'ArrowDown' ? 1 : n - 1)) % n);
        return true;
      }
      if ((e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey) {
        e.preventDefault();
        choose(items[selected]);
        return true;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        setClosed(key);
        return true;
      }
      return false;
    },
    menu: open ? (
      <ul class="mention-menu" id="mention-menu" role="listbox" aria-label="Files of this session">
        {items.map((p, i) => {
          const slash = p.lastIndexOf('/');
          return (
            <li key={p} id={`mention-menu-${i}`} role="option" aria-selected={i === selected}
              class={i === selected ? 'selected' : undefined}
              onMouseDown={(e) => { e.preventDefault(); choose(p); }} onMouseEnter={() => setSel(i)}>
              <span class="mention-name">{p.slice(slash + 1)}</span>
              {slash > 0 && <span class="mention-dir muted">{p.slice(0, slash)}</span>}
            </li>
          );
        })}
      </ul>
    ) : null,
  };
}
