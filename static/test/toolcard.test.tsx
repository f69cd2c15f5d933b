import { render } from 'preact';
import { describe, expect, it } from 'vitest';
import { Output, ToolCard } from '../src/components/ToolCard';
import type { ViewItem } from '../src/lib/transcript';

type ToolItem = Extract<ViewItem, { kind: 'tool' }>;

function mount(node: preact.ComponentChild): HTMLElement {
  const el = document.createElement('div');
  document.body.appendChild(el);
  render(node, el);
  return el;
}
const tick = () => new Promise((r) => setTimeout(r, 10));

describe('tool cards', () => {
  it('bash: command, stdout, stderr, exit code and duration', () => {
    const item: ToolItem = {
      kind: 'tool', key: 't:1', id: '1', name: 'bash', input: { command: 'make test' }, permission: null, state: 'error',
      result: { content: 'x', isError: true, stdout: 'built', stderr: 'boom', exitCode: 2, durationMs: 1530 },
    };
    const el = mount(<ToolCard item={item} onDecide={() => {}} />);
    expect(el.querySelector('.tool-title')!.textContent).toBe('make test');
    expect(el.querySelector('.chip')!.textContent).toBe('exit 2');
    expect(el.querySelector('.chip')!.classList.contains('nonzero')).toBe(true);
    expect(el.querySelector('.tool-meta .muted')!.textContent).toBe('1.53 s');
    expect(el.querySelector('.output:not(.stderr) .output-text')!.textContent).toBe('built');
    expect(el.querySelector('.output.stderr .output-text')!.textContent).toBe('boom');
    render(null, el);
  });

  it('long output is collapsed behind "Show all"', async () => {
    const text = Array.from({ length: 50 }, (_, i) => `line ${i + 1}`).join('\n');
    const el = mount(<Output text={text} label="Output" />);
    expect(el.querySelector('pre')!.textContent!.split('\n')).toHaveLength(20);
    const btn = el.querySelector('button')!;
    expect(btn.textContent).toBe('Show all (50 lines)');
    expect(btn.getAttribute('aria-expanded')).toBe('false');
    btn.click();
    await tick();
    expect(el.querySelector('pre')!.textContent!.split('\n')).toHaveLength(50);
    expect(el.querySelector('button')!.textContent).toBe('Show less');
    render(null, el);
  });

  it('an approval offers Allow once / Always allow / Deny with the optional message', async () => {
    const calls: unknown[][] = [];
    const item: ToolItem = {
      kind: 'tool', key: 't:2', id: '2', name: 'bash', input: { command: 'rm -rf build' }, result: null, state: 'waiting',
      permission: { request_id: 'rq', tool_use_id: '2', tool: 'bash', input: { command: 'rm -rf build' }, summary: 'Run a command: rm -rf build', status: 'pending' },
    };
    const el = mount(<ToolCard item={item} onDecide={(...a) => calls.push(a)} />);
    const buttons = Array.from(el.querySelectorAll('.perm-actions button')) as HTMLButtonElement[];
    expect(buttons.map((b) => b.textContent)).toEqual(['Allow once', 'Always allow', 'Deny']);
    buttons[0].click();
    buttons[1].click();
    const input = el.querySelector('.perm-message') as HTMLInputElement;
    input.value = 'not now';
    input.dispatchEvent(new Event('input', { bubbles: true }));
    await tick();
    (el.querySelectorAll('.perm-actions button')[2] as HTMLButtonElement).click();
    expect(calls).toEqual([['rq', 'allow', false, undefined], ['rq', 'allow', true, undefined], ['rq', 'deny', false, 'not now']]);
    render(null, el);
  });

  it('an editor call shows its diff and the outcome of its approval', () => {
    const item: ToolItem = {
      kind: 'tool', key: 't:3', id: '3', name: 'str_replace_based_edit_tool',
      input: { command: 'create', path: '/workspace/src/a.ts', file_text: 'export const a = 1;\n' },
      result: { content: 'File created', isError: false }, state: 'done',
      permission: { request_id: 'r3', tool_use_id: '3', tool: 'str_replace_based_edit_tool', input: {}, summary: '', status: 'allow', remember: true },
    };
    const el = mount(<ToolCard item={item} onDecide={() => {}} />);
    expect(el.querySelector('.tool-title')!.textContent).toBe('Create src/a.ts');
    expect(el.querySelector('.diffstat')!.textContent).toBe('+1 −0');
    expect(el.querySelector('.perm-outcome')!.textContent).toBe('Always allowed for this session');
    expect(el.querySelectorAll('.diff-row.add')).toHaveLength(1);
    render(null, el);
  });
});
