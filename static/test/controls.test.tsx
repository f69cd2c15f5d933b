import { render } from 'preact';
import { useState } from 'preact/hooks';
import { describe, expect, it } from 'vitest';
import { Composer } from '../src/components/Composer';
import { PlanCard } from '../src/components/PlanCard';
import { allCommands } from '../src/lib/commands';
import type { Permission } from '../src/lib/transcript';

function mount(node: preact.ComponentChild): HTMLElement {
  const el = document.createElement('div');
  document.body.appendChild(el);
  render(node, el);
  return el;
}
const tick = () => new Promise((r) => setTimeout(r, 0));

function Harness({ log }: { log: string[] }) {
  const [v, setV] = useState('');
  return (
    <Composer value={v} onInput={setV} onSend={(t) => log.push(`send:${t}`)} onStop={() => {}} busy={false} running={false}
      statusText="" commands={allCommands([{ name: 'greet', description: 'Greet', custom: true }])}
      onCommand={(n, a) => log.push(`cmd:${n}:${a}`)} onCycleMode={() => log.push('cycle')} />
  );
}

async function type(box: HTMLTextAreaElement, text: string) {
  box.value = text;
  box.dispatchEvent(new Event('input', { bubbles: true }));
  await tick();
}
async function key(box: HTMLTextAreaElement, k: string, shift = false) {
  box.dispatchEvent(new KeyboardEvent('keydown', { key: k, shiftKey: shift, bubbles: true, cancelable: true }));
  await tick();
}

describe('the composer\'s slash commands and Shift+Tab', () => {
  it('"/" opens the menu; typing filters; arrows move; Enter runs the selected command, never sends it', async () => {
    const log: string[] = [];
    const el = mount(<Harness log={log} />);
    const box = el.querySelector<HTMLTextAreaElement>('#composer-input')!;
    await type(box, '/');
    expect(el.querySelectorAll('#slash-menu [role=option]').length).toBeGreaterThanOrEqual(9);
    await type(box, '/co');
    const names = () => [...el.querySelectorAll('#slash-menu .slash-name')].map((n) => n.textContent);
    expect(names()).toEqual(['/compact', '/cost']);
    await key(box, 'ArrowDown');
    expect(el.querySelector('#slash-menu [aria-selected=true] .slash-name')!.textContent).toBe('/cost');
    await key(box, 'Enter');
    expect(log).toEqual(['cmd:cost:']);
    expect(el.querySelector('#slash-menu')).toBeNull();
    render(null, el);
  });

  it('Tab completes, arguments follow, Esc closes the menu; an unknown command is not sent', async () => {
    const log: string[] = [];
    const el = mount(<Harness log={log} />);
    const box = el.querySelector<HTMLTextAreaElement>('#composer-input')!;
    await type(box, '/gr');
    await key(box, 'Tab');
    expect(box.value).toBe('/greet ');
    await type(box, '/greet Ada');
    await key(box, 'Enter');
    expect(log).toEqual(['cmd:greet:Ada']);
    await type(box, '/he');
    await key(box, 'Escape');
    expect(el.querySelector('#slash-menu')).toBeNull();
    await type(box, '/nope now');
    await key(box, 'Enter');
    expect(log).toEqual(['cmd:greet:Ada']);
    expect(el.querySelector('#composer-hint')!.textContent).toContain('Unknown command /nope');
    await key(box, 'Tab', true);
    expect(log).toEqual(['cmd:greet:Ada', 'cycle']);
    render(null, el);
  });
});

describe('the plan card', () => {
  const perm = (status: Permission['status'], message?: string): Permission => ({
    request_id: 'r1', tool_use_id: 't1', tool: 'exit_plan_mode', input: { plan: '# Steps\n\n1. **Write** tests' },
    summary: 'Approve the plan: Steps', status, message,
  });
  it('shows the plan as Markdown and answers with the chosen mode', () => {
    const got: unknown[] = [];
    const el = mount(<PlanCard permission={perm('pending')} onDecide={(...a) => got.push(a)} />);
    expect(el.querySelector('.plan-body h1')!.textContent).toBe('Steps');
    expect(el.querySelector('.plan-body strong')!.textContent).toBe('Write');
    (el.querySelector('button.plan-accept-edits') as HTMLButtonElement).click();
    (el.querySelector('button.plan-ask') as HTMLButtonElement).click();
    (el.querySelector('button.plan-keep') as HTMLButtonElement).click();
    expect(got).toEqual([
      ['r1', 'allow', false, undefined, 'acceptEdits'],
      ['r1', 'allow', false, undefined, 'default'],
      ['r1', 'deny', false, undefined],
    ]);
    render(null, el);
  });
  it('says how it ended', () => {
    const el = mount(<PlanCard permission={perm('deny', 'more tests')} onDecide={() => {}} />);
    expect(el.textContent).toContain('Keep planning: “more tests”');
    render(null, el);
  });
});
