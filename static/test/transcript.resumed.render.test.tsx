import { render } from 'preact';
import { describe, expect, it } from 'vitest';
import { Transcript } from '../src/components/Transcript';
import { buildView, initialState, reduce } from '../src/lib/transcript';
import type { StreamEvent } from '../src/lib/types';

let n = 0;
const ev = (type: string, data: Record<string, unknown> = {}): StreamEvent =>
  ({ id: `${3000 + ++n}-0`, type, data: { ...data, run_id: 'r1' } });

describe('the run.resumed notice', () => {
  it('replaces the abandoned partial text on screen with a short explanation', () => {
    let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    s = reduce(s, { type: 'localPrompt', runId: 'r1', text: 'go' });
    s = reduce(s, {
      type: 'events', events: [
        ev('run.queued', { kind: 'message' }), ev('run.started', { kind: 'message' }),
        ev('message.start', { message_id: 'm1' }), ev('text.delta', { index: 0, text: 'HALF-WRITTEN' }),
        ev('run.resumed', { redo: 'message', discarded_text: true }),
        ev('message.start', { message_id: 'm2' }), ev('text.delta', { index: 0, text: 'Whole answer.' }),
      ],
    });
    const el = document.createElement('div');
    document.body.appendChild(el);
    render(<Transcript items={buildView(s)} loading={false} sessionId="s1" onDecide={() => {}} onCompact={() => {}} />, el);
    const text = el.textContent || '';
    expect(text).not.toContain('HALF-WRITTEN');
    expect(text).toContain('Whole answer.');
    const notice = el.querySelector('.notice.info[role="status"]');
    expect(notice?.textContent).toBe('The server restarted this step; Claude is redoing it.');
    // The notice comes before the redone text.
    expect(text.indexOf('redoing it')).toBeLessThan(text.indexOf('Whole answer.'));
    render(null, el);
  });
});
