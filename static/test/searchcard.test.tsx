import { render } from 'preact';
import { describe, expect, it } from 'vitest';
import { searchResults, ToolCard } from '../src/components/ToolCard';
import type { ViewItem } from '../src/lib/transcript';

type ToolItem = Extract<ViewItem, { kind: 'tool' }>;

function mount(node: preact.ComponentChild): HTMLElement {
  const el = document.createElement('div');
  document.body.appendChild(el);
  render(node, el);
  return el;
}

describe('search card (glob, grep)', () => {
  it('splits the result text into lines, the header and the truncation note', () => {
    expect(searchResults('Found 2 files\na.c\nsrc/b.c')).toEqual({ lines: ['a.c', 'src/b.c'], header: 'Found 2 files', note: '' });
    expect(searchResults('No files found')).toEqual({ lines: [], header: 'No files found', note: '' });
    const t = searchResults('x:1:a\nx:2:b\n(Results are truncated: showing 2 of 9 lines. Narrow the search.)');
    expect(t.lines).toEqual(['x:1:a', 'x:2:b']);
    expect(t.note).toMatch(/showing 2 of 9 lines/);
  });

  it('shows the pattern, the path and the results', () => {
    const item: ToolItem = {
      kind: 'tool', key: 't:1', id: '1', name: 'glob', input: { pattern: '**/*.ts', path: '/workspace/src' }, permission: null,
      state: 'done', result: { content: 'src/a.ts\nsrc/b.ts', isError: false },
    };
    const el = mount(<ToolCard item={item} onDecide={() => {}} />);
    expect(el.querySelector('.tool-card.search .search-pattern')!.textContent).toBe('**/*.ts');
    expect(el.querySelector('.tool-card.search')!.textContent).toContain('in src');
    expect([...el.querySelectorAll('.search-list li')].map((li) => li.textContent)).toEqual(['src/a.ts', 'src/b.ts']);
    expect(el.querySelector('.search-count')!.textContent).toBe('2 results');
    render(null, el);
  });

  it('an error is shown as an error, without a list', () => {
    const item: ToolItem = {
      kind: 'tool', key: 't:2', id: '2', name: 'grep', input: { pattern: '(' }, permission: null,
      state: 'error', result: { content: 'Error: regex parse error', isError: true },
    };
    const el = mount(<ToolCard item={item} onDecide={() => {}} />);
    expect(el.querySelector('.output.stderr .output-text')!.textContent).toBe('Error: regex parse error');
    expect(el.querySelector('.search-list')).toBeNull();
    render(null, el);
  });
});
