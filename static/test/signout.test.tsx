import { render } from 'preact';
import { describe, expect, it } from 'vitest';
import { Sidebar } from '../src/components/Sidebar';
import type { User } from '../src/lib/types';

// jsdom has <dialog> without close(): the attribute is what Dialog reads.
const dproto = HTMLDialogElement.prototype as unknown as { close?: () => void };
if (typeof dproto.close !== 'function') {
  dproto.close = function (this: HTMLDialogElement) { this.removeAttribute('open'); };
}

const user = { username: 'ann', role: 'user' } as unknown as User;

function mount(node: preact.ComponentChild): HTMLElement {
  const el = document.createElement('div');
  document.body.appendChild(el);
  render(node, el);
  return el;
}

const flush = () => new Promise((r) => setTimeout(r, 0));

function sidebar(onLogoutAll: () => void) {
  return (
    <Sidebar user={user} sessions={[]} error={null} currentId={null} hasMore={false}
      onLoadMore={() => {}} onSelect={() => {}} onCreated={() => {}} onChanged={() => {}}
      onDeleted={() => {}} onLogout={() => {}} onLogoutAll={onLogoutAll} onClose={() => {}}
      toast={() => {}} />
  );
}

describe('sign out everywhere', () => {
  it('asks first, then signs out every device', async () => {
    let calls = 0;
    const el = mount(sidebar(() => { calls++; }));
    const btn = el.querySelector<HTMLButtonElement>('button.sign-out-all');
    expect(btn).toBeTruthy();
    expect(btn!.textContent).toBe('Sign out everywhere');
    btn!.click();
    await flush();
    expect(calls).toBe(0);
    const confirm = [...el.querySelectorAll<HTMLButtonElement>('dialog button')]
      .find((b) => b.textContent === 'Sign out everywhere');
    expect(confirm).toBeTruthy();
    expect(confirm!.closest('dialog')!.textContent).toContain('this one included');
    confirm!.click();
    await flush();
    expect(calls).toBe(1);
    render(null, el);
  });
  it('cancel signs nobody out', async () => {
    let calls = 0;
    const el = mount(sidebar(() => { calls++; }));
    el.querySelector<HTMLButtonElement>('button.sign-out-all')!.click();
    await flush();
    const cancel = [...el.querySelectorAll<HTMLButtonElement>('dialog button')]
      .find((b) => b.textContent === 'Cancel');
    cancel!.click();
    await flush();
    expect(calls).toBe(0);
    render(null, el);
  });
});
