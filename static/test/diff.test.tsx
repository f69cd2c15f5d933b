import { render } from 'preact';
import { describe, expect, it } from 'vitest';
import { diffLines, editorDiff, splitLines, toHunks, unifiedText, type DiffOp } from '../src/lib/diff';
import { DiffView } from '../src/components/ToolCard';

function apply(ops: DiffOp[]): { a: string[]; b: string[] } {
  return { a: ops.filter((o) => o.op !== '+').map((o) => o.text), b: ops.filter((o) => o.op !== '-').map((o) => o.text) };
}

describe('line diff', () => {
  it('produces an edit script that rebuilds both sides', () => {
    const cases: Array<[string[], string[]]> = [
      [[], []], [['a'], []], [[], ['a']], [['a', 'b', 'c'], ['a', 'x', 'c']],
      [['a', 'b', 'c', 'd', 'e'], ['b', 'c', 'x', 'e', 'f']],
      ['the quick brown fox jumps over the lazy dog'.split(' '), 'a quick brown dog jumps over the fox'.split(' ')],
    ];
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < 200; i++) {
      const a = Array.from({ length: Math.floor(rnd() * 12) }, () => 'abcd'[Math.floor(rnd() * 4)]);
      const b = Array.from({ length: Math.floor(rnd() * 12) }, () => 'abcd'[Math.floor(rnd() * 4)]);
      cases.push([a, b]);
    }
    for (const [a, b] of cases) {
      const ops = diffLines(a, b);
      expect(apply(ops)).toEqual({ a, b });
    }
  });

  it('is minimal for a one-line change', () => {
    const ops = diffLines(['a', 'b', 'c'], ['a', 'B', 'c']);
    expect(ops.filter((o) => o.op !== ' ')).toEqual([{ op: '-', text: 'b' }, { op: '+', text: 'B' }]);
  });

  it('groups changes into hunks with 3 lines of context and correct headers', () => {
    const a = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`);
    const b = a.slice();
    b[1] = 'changed 2';
    b[16] = 'changed 17';
    const hunks = toHunks(diffLines(a, b), 3);
    expect(hunks).toHaveLength(2);
    expect(hunks[0]).toMatchObject({ oldStart: 1, oldLines: 5, newStart: 1, newLines: 5 });
    expect(hunks[1]).toMatchObject({ oldStart: 14, oldLines: 7, newStart: 14, newLines: 7 });
  });

  it('splits text into lines without a phantom last line', () => {
    expect(splitLines('a\nb\n')).toEqual(['a', 'b']);
    expect(splitLines('')).toEqual([]);
    expect(splitLines('a')).toEqual(['a']);
  });
});

describe('editor call diffs', () => {
  it('str_replace: old_str → new_str', () => {
    const d = editorDiff({ command: 'str_replace', path: '/workspace/a.py', old_str: 'x = 1\ny = 2\n', new_str: 'x = 1\ny = 3\nz = 4\n' })!;
    expect(d).toMatchObject({ kind: 'str_replace', added: 2, removed: 1, relative: true, path: '/workspace/a.py' });
    expect(unifiedText(d)).toBe('--- a/workspace/a.py\n+++ b/workspace/a.py\n@@ @@\n x = 1\n-y = 2\n+y = 3\n+z = 4');
  });

  it('create: every line added, from /dev/null', () => {
    const d = editorDiff({ command: 'create', path: '/workspace/new.txt', file_text: 'one\ntwo\n' })!;
    expect(d).toMatchObject({ kind: 'create', added: 2, removed: 0 });
    expect(unifiedText(d)).toBe('--- /dev/null\n+++ b/workspace/new.txt\n@@ -0,0 +1,2 @@\n+one\n+two');
  });

  it('insert: lines added after insert_line, numbered', () => {
    const d = editorDiff({ command: 'insert', path: '/workspace/a.txt', insert_line: 5, new_str: 'x\ny' })!;
    expect(d.hunks[0]).toMatchObject({ oldStart: 5, oldLines: 0, newStart: 6, newLines: 2 });
    expect(d.hunks[0].lines.map((l) => l.newNo)).toEqual([6, 7]);
  });

  it('view changes nothing', () => {
    expect(editorDiff({ command: 'view', path: '/workspace/a.txt' })).toBeNull();
  });
});

describe('diff rendering', () => {
  function mount(input: Record<string, unknown>): HTMLElement {
    const el = document.createElement('div');
    document.body.appendChild(el);
    render(<DiffView diff={editorDiff(input)!} />, el);
    return el;
  }

  it('renders rows with +/− classes, line numbers and highlighted code', () => {
    const el = mount({ command: 'insert', path: '/workspace/m.py', insert_line: 2, new_str: 'def f():\n    return 1' });
    const rows = el.querySelectorAll('.diff-row');
    expect(rows[0].classList.contains('hunk-head')).toBe(true);
    expect(rows[0].textContent).toContain('@@ -2,0 +3,2 @@');
    expect(el.querySelectorAll('.diff-row.add')).toHaveLength(2);
    const first = el.querySelector('.diff-row.add')!;
    expect(first.querySelectorAll('.ln')[1].textContent).toBe('3');
    expect(first.querySelector('.hljs-keyword')?.textContent).toBe('def');
    render(null, el);
  });

  it('marks removed and context lines; escapes HTML in the code', () => {
    const el = mount({ command: 'str_replace', path: '/workspace/x.html', old_str: '<b>keep</b>\n<script>old()</script>', new_str: '<b>keep</b>\n<i>new</i>' });
    expect(el.querySelectorAll('.diff-row.ctx')).toHaveLength(1);
    expect(el.querySelector('.diff-row.del')!.textContent).toContain('<script>old()</script>');
    expect(el.querySelector('script')).toBeNull();
    expect(el.querySelector('.diff-row.add')!.textContent).toContain('<i>new</i>');
    expect(el.querySelector('i')).toBeNull();
    render(null, el);
  });

  it('collapses a long diff behind "Show all"', () => {
    const text = Array.from({ length: 100 }, (_, i) => `l${i}`).join('\n');
    const el = mount({ command: 'create', path: '/workspace/big.txt', file_text: text });
    expect(el.querySelectorAll('.diff-row.add').length).toBeLessThan(100);
    const btn = el.querySelector('button.show-all') as HTMLButtonElement;
    expect(btn.textContent).toContain('Show all');
    btn.click();
    return new Promise<void>((resolve) => setTimeout(() => {
      expect(el.querySelectorAll('.diff-row.add')).toHaveLength(100);
      render(null, el);
      resolve();
    }, 20));
  });
});
