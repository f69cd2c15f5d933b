// The run scheduler (docs/scheduler.md, issue 11) in the transcript: messages
// sent while a run is active queue behind it and are shown at once, marked
// queued with where they stand; they become the ordinary prompt when their run
// starts, and vanish when removed. Parked runs keep their approval card.
import { describe, expect, it } from 'vitest';
import {
  activeRun, buildView, currentRun, initialState, queuedRuns, reduce, viewStatus,
  type TranscriptState, type ViewItem,
} from '../src/lib/transcript';
import type { HistoryMessage, QueuedRun, StreamEvent } from '../src/lib/types';
import { continueText, queueText } from '../src/lib/words';

const R1 = 'run1';
const R2 = 'run2';
const R3 = 'run3';

let n = 0;
function ev(type: string, run: string | null, data: Record<string, unknown> = {}): StreamEvent {
  n++;
  return { id: `${5000 + n}-0`, type, data: run ? { ...data, run_id: run } : data };
}
function evs(s: TranscriptState, ...list: StreamEvent[]): TranscriptState {
  return reduce(s, { type: 'events', events: list });
}
function history(s: TranscriptState, messages: HistoryMessage[], queued?: QueuedRun[], tick?: number): TranscriptState {
  return reduce(s, { type: 'history', messages, asOf: s.lastEventId, want: s.historyWanted, queued, tick });
}
/** The view as comparable strings; queued prompts show where they stand. */
function sig(v: ViewItem[]): string[] {
  return v.map((i) => {
    switch (i.kind) {
      case 'user':
        if (i.queued) return `queued:${i.text} [${queueText(i.queued)}]${i.removing ? ' (removing)' : ''}`;
        return `user:${i.text}${i.pending ? ' (pending)' : ''}`;
      case 'text': return `text:${i.text}`;
      case 'tool': return `tool:${i.id}:${i.state}`;
      case 'notice': return `notice:${i.code}`;
      case 'permission': return `perm:${i.permission.request_id}`;
      default: return i.kind;
    }
  });
}

/** R1 "first" sent from this window and running, its answer streaming. */
function running(): TranscriptState {
  n = 0;
  let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
  s = reduce(s, { type: 'pendingPrompt', text: 'first' });
  s = reduce(s, { type: 'localPrompt', runId: R1, text: 'first', queue: { state: 'ready', ahead: 0 } });
  return evs(s,
    ev('run.queued', R1, { kind: 'message', state: 'ready', ahead: 0 }),
    ev('run.started', R1, { kind: 'message' }),
    ev('message.start', R1, { message_id: 'm1' }),
    ev('text.delta', R1, { index: 0, text: 'Working on it' }),
  );
}

/** A second message sent while R1 runs: the POST answered 202 queued behind it. */
function sendSecond(s: TranscriptState, text = 'second'): TranscriptState {
  s = reduce(s, { type: 'pendingPrompt', text });
  return reduce(s, { type: 'localPrompt', runId: R2, text, queue: { state: 'session', ahead: 1 } });
}

const R1_DONE: HistoryMessage[] = [
  { role: 'user', content: 'first' },
  { role: 'assistant', content: [{ type: 'text', text: 'Working on it.' }] },
];

describe('queued messages: sent while a run is active', () => {
  it('shows the message at once, after the running answer, marked queued behind the current run', () => {
    let s = running();
    s = reduce(s, { type: 'pendingPrompt', text: 'second' });
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it', 'user:second (pending)']);
    s = reduce(s, { type: 'localPrompt', runId: R2, text: 'second', queue: { state: 'session', ahead: 1 } });
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it', 'queued:second [Queued behind the current run]']);
    const item = buildView(s).at(-1)!;
    expect(item).toMatchObject({ kind: 'user', runId: R2, queued: { state: 'session', ahead: 1 } });
    // The session's run is still R1; R2 waits.
    expect(currentRun(s)?.id).toBe(R1);
    expect(queuedRuns(s).map((r) => r.id)).toEqual([R2]);
    expect(viewStatus(s)).toBe('running');
  });

  it('run.queued (before or after the POST answer) adds no second bubble', () => {
    // Event first, then the POST answer.
    let s = running();
    s = reduce(s, { type: 'pendingPrompt', text: 'second' });
    s = evs(s, ev('run.queued', R2, { kind: 'message', state: 'session', ahead: 1 }));
    // Ours (a POST is in flight): no text yet, so no bubble besides the pending one, and no history fetch.
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it', 'user:second (pending)']);
    expect(s.historyWanted).toBe(s.historyHave);
    s = reduce(s, { type: 'localPrompt', runId: R2, text: 'second', queue: { state: 'session', ahead: 1 } });
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it', 'queued:second [Queued behind the current run]']);
    // POST answer first, then the event.
    let t = sendSecond(running());
    t = evs(t, ev('run.queued', R2, { kind: 'message', state: 'session', ahead: 1 }));
    expect(sig(buildView(t))).toEqual(sig(buildView(s)));
  });

  it('run.queued keeps the session waiting for approval when the current run waits', () => {
    let s = running();
    s = evs(s,
      ev('tool.use', R1, { index: 1, id: 'tu1', name: 'bash', input: { command: 'ls' } }),
      ev('message.stop', R1, { stop_reason: 'tool_use' }),
      ev('permission.request', R1, { request_id: 'rq1', tool_use_id: 'tu1', tool: 'bash', input: { command: 'ls' }, summary: 'ls' }),
    );
    expect(s.status).toBe('waiting');
    s = sendSecond(s);
    s = evs(s, ev('run.queued', R2, { kind: 'message', state: 'session', ahead: 1 }));
    expect(s.status).toBe('waiting');
    expect(viewStatus(s)).toBe('waiting');
  });

  it('run.queue_position updates where it stands', () => {
    let s = sendSecond(running());
    s = evs(s, ev('run.queued', R2, { kind: 'message', state: 'session', ahead: 2 }));
    expect(sig(buildView(s)).at(-1)).toBe('queued:second [Queued behind the current run — 2 ahead]');
    s = evs(s, ev('run.queue_position', R2, { state: 'session', ahead: 1 }));
    expect(sig(buildView(s)).at(-1)).toBe('queued:second [Queued behind the current run]');
    s = evs(s, ev('run.queue_position', R2, { state: 'user', ahead: 2 }));
    expect(sig(buildView(s)).at(-1)).toBe('queued:second [Queued — 2 ahead, waiting for your other runs]');
    s = evs(s, ev('run.queue_position', R2, { state: 'ready', ahead: 3 }));
    expect(sig(buildView(s)).at(-1)).toBe('queued:second [Queued — 3 ahead]');
    s = evs(s, ev('run.queue_position', R2, { state: 'ready', ahead: 0 }));
    expect(sig(buildView(s)).at(-1)).toBe('queued:second [Starting…]');
  });

  it('a position event for a run not seen before is no gap: no history fetch, no "missed" notice', () => {
    let s = running();
    const have = s.historyWanted;
    s = reduce(s, { type: 'pendingPrompt', text: 'x' });
    s = evs(s, ev('run.queue_position', R2, { state: 'session', ahead: 1 }));
    expect(s.historyWanted).toBe(have);
    expect(s.runs.find((r) => r.id === R2)).toMatchObject({ partial: false, started: false });
  });

  it('when it starts it becomes the ordinary prompt, once, also when the history already holds it', () => {
    let s = sendSecond(running());
    s = evs(s, ev('run.queued', R2, { kind: 'message', state: 'session', ahead: 1 }));
    s = evs(s,
      ev('message.stop', R1, { stop_reason: 'end_turn' }),
      ev('run.finished', R1, { stop_reason: 'end_turn' }),
    );
    // R1 ended: R2 is next; nothing runs, so the session is "queued", never "running".
    expect(currentRun(s)).toBeNull();
    expect(viewStatus(s)).toBe('queued');
    s = evs(s, ev('run.queue_position', R2, { state: 'ready', ahead: 0 }));
    s = evs(s, ev('run.started', R2, { kind: 'message' }));
    expect(viewStatus(s)).toBe('running');
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it', 'user:second']);
    // The history fetched after R1's end already has R2's prompt (stored when it started).
    s = history(s, [...R1_DONE, { role: 'user', content: 'second' }], []);
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it.', 'user:second']);
    s = evs(s, ev('message.start', R2, { message_id: 'm2' }), ev('text.delta', R2, { index: 0, text: 'Second answer' }));
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it.', 'user:second', 'text:Second answer']);
    // And after R2's end, from the history alone.
    s = evs(s, ev('message.stop', R2, { stop_reason: 'end_turn' }), ev('run.finished', R2, { stop_reason: 'end_turn' }));
    s = history(s, [...R1_DONE, { role: 'user', content: 'second' }, { role: 'assistant', content: [{ type: 'text', text: 'Second answer' }] }], []);
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it.', 'user:second', 'text:Second answer']);
    expect(s.status).toBe('idle');
    expect(viewStatus(s)).toBe('idle');
  });

  it('the same text twice: the queued one is not mistaken for the earlier prompt', () => {
    let s = sendSecond(running(), 'first');
    s = evs(s, ev('message.stop', R1, { stop_reason: 'end_turn' }), ev('run.finished', R1, {}));
    s = history(s, R1_DONE, [{ run_id: R2, kind: 'message', content: 'first', state: 'ready', ahead: 0 }]);
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it.', 'queued:first [Starting…]']);
  });
});

describe('queued messages: notices stay with their run', () => {
  it('Stop, and the queued message starts at once: "Stopped." stays under the stopped answer', () => {
    let s = sendSecond(running());
    s = evs(s, ev('run.queued', R2, { kind: 'message', state: 'session', ahead: 1 }));
    s = evs(s,
      ev('run.cancelled', R1, {}),
      ev('run.queue_position', R2, { state: 'ready', ahead: 0 }),
      ev('run.started', R2, { kind: 'message' }),
      ev('message.start', R2, { message_id: 'm2' }), ev('text.delta', R2, { index: 0, text: 'Answer two' }),
      ev('message.stop', R2, { stop_reason: 'end_turn' }), ev('run.finished', R2, { stop_reason: 'end_turn' }),
    );
    const want = ['user:first', 'text:Working on it', 'notice:cancelled', 'user:second', 'text:Answer two'];
    expect(sig(buildView(s))).toEqual(want);
    // The history (fetched after both ended) holds both runs: the notice stays where it was.
    s = history(s, [
      { role: 'user', content: 'first' },
      { role: 'assistant', content: [{ type: 'text', text: 'Working on it' }] },
      { role: 'user', content: 'second' },
      { role: 'assistant', content: [{ type: 'text', text: 'Answer two' }] },
    ], []);
    expect(s.runs.every((r) => r.settled)).toBe(true);
    expect(sig(buildView(s))).toEqual(want);
  });

  it('stopped before any answer, the next prompt merged into the same message: the notice goes between the two', () => {
    n = 0;
    let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    s = reduce(s, { type: 'localPrompt', runId: R1, text: 'first' });
    s = evs(s, ev('run.queued', R1, { kind: 'message', state: 'ready', ahead: 0 }), ev('run.started', R1, { kind: 'message' }));
    s = sendSecond(s);
    s = evs(s,
      ev('run.cancelled', R1, {}),
      ev('run.started', R2, { kind: 'message' }),
      ev('message.start', R2, { message_id: 'm2' }), ev('text.delta', R2, { index: 0, text: 'Answer two' }),
      ev('message.stop', R2, {}), ev('run.finished', R2, {}),
    );
    s = history(s, [
      { role: 'user', content: [{ type: 'text', text: 'first' }, { type: 'text', text: 'second' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Answer two' }] },
    ], []);
    expect(sig(buildView(s))).toEqual(['user:first', 'notice:cancelled', 'user:second', 'text:Answer two']);
  });
});

describe('queued messages: Stop, and the history already holds the queued run', () => {
  const WANT = ['user:first', 'text:Working on it', 'notice:cancelled', 'user:second', 'text:Answer two'];
  const BOTH = (partial = 'Working on it'): HistoryMessage[] => [
    { role: 'user', content: 'first' },
    { role: 'assistant', content: [{ type: 'text', text: partial }] },
    { role: 'user', content: 'second' },
    { role: 'assistant', content: [{ type: 'text', text: 'Answer two' }] },
  ];
  /** R1 cancelled, R2 queued behind it; `started`: R2's run.started seen too. */
  function stopped(started: boolean): TranscriptState {
    let s = sendSecond(running());
    s = evs(s, ev('run.queued', R2, { kind: 'message', state: 'session', ahead: 1 }), ev('run.cancelled', R1, {}));
    if (started) s = evs(s, ev('run.started', R2, { kind: 'message' }));
    return s;
  }
  /** The rest of R2's events, then the history fetched after its end. */
  function finish(s: TranscriptState, started: boolean, h: HistoryMessage[]): TranscriptState {
    if (!started) s = evs(s, ev('run.started', R2, { kind: 'message' }));
    s = evs(s,
      ev('message.start', R2, { message_id: 'm2' }), ev('text.delta', R2, { index: 0, text: 'Answer two' }),
      ev('message.stop', R2, { stop_reason: 'end_turn' }), ev('run.finished', R2, { stop_reason: 'end_turn' }),
    );
    return history(s, h, []);
  }
  /** The cancelled notice comes right after R1's answer, whatever else the view holds meanwhile. */
  function noticeAfterFirst(v: string[]) {
    expect(v.indexOf('notice:cancelled')).toBe(v.indexOf('text:Working on it') + 1);
  }

  for (const started of [true, false]) {
    const when = started ? 'run.started seen' : 'run.started not seen yet';
    it(`the history fetched after the Stop already has the queued run's answer (${when})`, () => {
      let s = stopped(started);
      s = history(s, BOTH(), []);
      expect(s.runs.find((r) => r.id === R1)!.settled).toBe(true);
      noticeAfterFirst(sig(buildView(s)));
      s = finish(s, started, BOTH());
      expect(s.runs.every((r) => r.settled)).toBe(true);
      expect(sig(buildView(s))).toEqual(WANT);
    });

    it(`... and the stored partial answer is not the streamed text (${when})`, () => {
      let s = stopped(started);
      s = history(s, BOTH('Working on it, and more'), []);
      const v = sig(buildView(s));
      expect(v.indexOf('notice:cancelled')).toBe(v.indexOf('text:Working on it, and more') + 1);
      s = finish(s, started, BOTH('Working on it, and more'));
      expect(sig(buildView(s))).toEqual(WANT.map((x) => (x === 'text:Working on it' ? 'text:Working on it, and more' : x)));
    });
  }

  it('both ended before the history, the stored partial answer differs: the notice stays under it', () => {
    let s = stopped(true);
    s = finish(s, true, BOTH('Working on it, and more'));
    expect(sig(buildView(s))).toEqual(WANT.map((x) => (x === 'text:Working on it' ? 'text:Working on it, and more' : x)));
  });

  it('stopped before any answer, the next prompt merged and answered before its events came', () => {
    n = 0;
    let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    s = reduce(s, { type: 'localPrompt', runId: R1, text: 'first' });
    s = evs(s, ev('run.queued', R1, { kind: 'message', state: 'ready', ahead: 0 }), ev('run.started', R1, { kind: 'message' }));
    s = sendSecond(s);
    s = evs(s, ev('run.cancelled', R1, {}), ev('run.started', R2, { kind: 'message' }));
    const h: HistoryMessage[] = [
      { role: 'user', content: [{ type: 'text', text: 'first' }, { type: 'text', text: 'second' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Answer two' }] },
    ];
    s = history(s, h, []);
    expect(sig(buildView(s)).slice(0, 3)).toEqual(['user:first', 'notice:cancelled', 'user:second']);
    s = finish(s, true, h);
    expect(sig(buildView(s))).toEqual(['user:first', 'notice:cancelled', 'user:second', 'text:Answer two']);
  });
});

describe('queued messages: removal', () => {
  it('removed (DELETE 200): the bubble goes, the running answer stays', () => {
    let s = sendSecond(running());
    s = reduce(s, { type: 'removing', runId: R2, removing: true });
    expect(sig(buildView(s)).at(-1)).toBe('queued:second [Queued behind the current run] (removing)');
    s = reduce(s, { type: 'removed', runId: R2 });
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it']);
    expect(currentRun(s)?.id).toBe(R1);
    expect(viewStatus(s)).toBe('running');
    // Its run.cancelled {reason: removed} then changes nothing.
    s = evs(s, ev('run.cancelled', R2, { reason: 'removed' }));
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it']);
    expect(s.status).toBe('running');
  });

  it('run.cancelled {reason: removed} (removed in another window) drops it without a "Stopped." notice', () => {
    let s = sendSecond(running());
    s = evs(s, ev('run.queued', R2, { kind: 'message', state: 'session', ahead: 1 }));
    s = evs(s, ev('run.cancelled', R2, { reason: 'removed' }));
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it']);
    expect(s.status).toBe('running');
    // Still nothing once the history settles it.
    s = evs(s, ev('message.stop', R1, {}), ev('run.finished', R1, {}));
    s = history(s, R1_DONE, []);
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it.']);
  });

  it('a removed run never seen is ignored; the only queued run removed leaves the session idle', () => {
    let s = reduce(initialState('s1'), { type: 'history', messages: [], asOf: null, want: 1 });
    s = evs(s, ev('run.cancelled', 'ghost', { reason: 'removed' }));
    expect(s.runs).toEqual([]);
    s = reduce(s, { type: 'localPrompt', runId: R1, text: 'hello', queue: { state: 'user', ahead: 1 } });
    s = evs(s, ev('run.queued', R1, { kind: 'message', state: 'user', ahead: 1 }));
    expect(viewStatus(s)).toBe('queued');
    s = reduce(s, { type: 'removed', runId: R1 });
    expect(buildView(s)).toEqual([]);
    expect(viewStatus(s)).toBe('idle');
    expect(activeRun(s)).toBeNull();
  });

  it('DELETE 409 (it had started): the run.started that follows makes it the ordinary prompt', () => {
    let s = sendSecond(running());
    s = reduce(s, { type: 'removing', runId: R2, removing: true });
    s = reduce(s, { type: 'removing', runId: R2, removing: false });
    s = evs(s, ev('message.stop', R1, {}), ev('run.finished', R1, {}), ev('run.started', R2, { kind: 'message' }));
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it', 'user:second']);
  });
});

describe('queued messages after a reload (GET /messages queued)', () => {
  const QUEUED: QueuedRun[] = [
    { run_id: R2, kind: 'message', content: 'second', state: 'session', ahead: 1, created_at: 1 },
    { run_id: R3, kind: 'message', content: [{ type: 'text', text: 'third' }], state: 'session', ahead: 2, created_at: 2 },
  ];

  it('shows the queued prompts (not in the history) after the running answer, in order', () => {
    n = 100;
    let s = initialState('s1');
    // The history (with the queued list) arrives before the stream replays R1.
    s = history(s, [{ role: 'user', content: 'first' }], QUEUED, 0);
    expect(sig(buildView(s))).toEqual([
      'user:first',
      'queued:second [Queued behind the current run]',
      'queued:third [Queued behind the current run — 2 ahead]',
    ]);
    s = reduce(s, {
      type: 'snapshot', resumedFrom: null,
      snapshot: {
        session_id: 's1', status: 'running', active_run: { run_id: R1, kind: 'message', status: 'running', first_event_id: '5101-0' },
        pending_permissions: [], last_event_id: '5110-0', resume_after: '0-0',
      },
    });
    s = evs(s,
      ev('run.queued', R1, { kind: 'message', state: 'ready', ahead: 0 }),
      ev('run.started', R1, { kind: 'message' }),
      ev('message.start', R1, { message_id: 'm1' }),
      ev('text.delta', R1, { index: 0, text: 'Working' }),
      ev('run.queued', R2, { kind: 'message', state: 'session', ahead: 1 }),
      ev('run.queued', R3, { kind: 'message', state: 'session', ahead: 2 }),
    );
    expect(sig(buildView(s))).toEqual([
      'user:first',
      'text:Working',
      'queued:second [Queued behind the current run]',
      'queued:third [Queued behind the current run — 2 ahead]',
    ]);
    expect(viewStatus(s)).toBe('running');
    // R1 ends, R2 starts: R2's prompt goes above R2's answer, R3 still waits last.
    s = evs(s,
      ev('message.stop', R1, {}), ev('run.finished', R1, {}),
      ev('run.queue_position', R3, { state: 'session', ahead: 1 }),
      ev('run.started', R2, { kind: 'message' }),
      ev('message.start', R2, { message_id: 'm2' }), ev('text.delta', R2, { index: 0, text: 'Two' }),
    );
    expect(sig(buildView(s))).toEqual([
      'user:first', 'text:Working', 'user:second', 'text:Two', 'queued:third [Queued behind the current run]',
    ]);
  });

  it('a queued-only session after a reload: "Queued", never "running"', () => {
    let s = initialState('s1');
    s = reduce(s, {
      type: 'snapshot', resumedFrom: null,
      snapshot: {
        session_id: 's1', status: 'running', active_run: { run_id: R1, kind: 'message', status: 'queued', first_event_id: '1-0' },
        pending_permissions: [], last_event_id: '1-0', resume_after: '0-0',
      },
    });
    s = history(s, [], [{ run_id: R1, kind: 'message', content: 'only one', state: 'user', ahead: 2 }], 0);
    expect(sig(buildView(s))).toEqual(['queued:only one [Queued — 2 ahead, waiting for your other runs]']);
    expect(currentRun(s)).toBeNull();
    expect(viewStatus(s)).toBe('queued');
  });

  it('a queued run the list no longer names (started or gone meanwhile) is dropped; its events bring it back', () => {
    let s = history(initialState('s1'), [], [{ run_id: R1, kind: 'message', content: 'hello', state: 'ready', ahead: 3 }], 0);
    const tick = s.tick;
    // A later fetch (begun after R1 was known) does not list it: it started.
    s = history(s, [{ role: 'user', content: 'hello' }], [], tick);
    expect(s.runs).toEqual([]);
    expect(sig(buildView(s))).toEqual(['user:hello']);
    // Its run.started comes late: shown once, from the history's prompt.
    s = evs(s, ev('run.started', R1, { kind: 'message' }), ev('message.start', R1, { message_id: 'x' }), ev('text.delta', R1, { index: 0, text: 'Hi' }));
    expect(sig(buildView(s))).toEqual(['user:hello', 'text:Hi']);
  });

  it('a fetch begun before a message was sent does not drop it', () => {
    let s = running();
    const tickAtFetch = s.tick;
    s = sendSecond(s);
    s = history(s, [{ role: 'user', content: 'first' }], [], tickAtFetch);
    expect(sig(buildView(s)).at(-1)).toBe('queued:second [Queued behind the current run]');
  });

  it('the list does not undo what the stream said (started meanwhile)', () => {
    let s = sendSecond(running());
    s = evs(s, ev('message.stop', R1, {}), ev('run.finished', R1, {}), ev('run.started', R2, { kind: 'message' }));
    s = history(s, R1_DONE, [{ run_id: R2, kind: 'message', content: 'second', state: 'ready', ahead: 0 }]);
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it.', 'user:second']);
  });

  it('a message queued from another window while this one was sending: its text is fetched too', () => {
    let s = running();
    s = reduce(s, { type: 'pendingPrompt', text: 'mine' });
    s = evs(s, ev('run.queued', R3, { kind: 'message', state: 'session', ahead: 1 }));
    const w = s.historyWanted;
    s = reduce(s, { type: 'localPrompt', runId: R2, text: 'mine', queue: { state: 'session', ahead: 2 } });
    expect(s.historyWanted).toBeGreaterThan(w);
    s = history(s, [{ role: 'user', content: 'first' }], [
      { run_id: R3, kind: 'message', content: 'theirs', state: 'session', ahead: 1 },
      { run_id: R2, kind: 'message', content: 'mine', state: 'session', ahead: 2 },
    ], s.tick);
    expect(sig(buildView(s)).slice(-2)).toEqual([
      'queued:theirs [Queued behind the current run]', 'queued:mine [Queued behind the current run — 2 ahead]',
    ]);
  });

  it('a message queued from another window: its text comes with the history', () => {
    let s = running();
    const w = s.historyWanted;
    s = evs(s, ev('run.queued', R2, { kind: 'message', state: 'session', ahead: 1 }));
    expect(s.historyWanted).toBeGreaterThan(w);
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it']);
    s = history(s, [{ role: 'user', content: 'first' }], [{ run_id: R2, kind: 'message', content: 'from the phone', state: 'session', ahead: 1 }], s.tick);
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it', 'queued:from the phone [Queued behind the current run]']);
  });
});

describe('parked runs', () => {
  it('run.parked keeps the approval card usable and the session waiting; run.continued then permission.resolved go on', () => {
    let s = running();
    s = evs(s,
      ev('tool.use', R1, { index: 1, id: 'tu1', name: 'bash', input: { command: 'ls' } }),
      ev('message.stop', R1, { stop_reason: 'tool_use' }),
      ev('permission.request', R1, { request_id: 'rq1', tool_use_id: 'tu1', tool: 'bash', input: { command: 'ls' }, summary: 'ls' }),
      ev('run.parked', R1, { request_id: 'rq1', reason: 'permission' }),
    );
    expect(s.status).toBe('waiting');
    expect(viewStatus(s)).toBe('waiting');
    expect(currentRun(s)).toMatchObject({ id: R1, parked: true });
    expect(s.permissions.rq1.status).toBe('pending');
    expect(sig(buildView(s))).toEqual(['user:first', 'text:Working on it', 'tool:tu1:waiting']);
    // A message sent now queues behind the parked run.
    s = sendSecond(s);
    expect(sig(buildView(s)).at(-1)).toBe('queued:second [Queued behind the current run]');
    // The answer: the continuation waits for a slot (a started run: not a queued bubble).
    s = reduce(s, { type: 'answering', requestId: 'rq1', answering: true });
    s = evs(s, ev('run.queue_position', R1, { state: 'ready', ahead: 2 }));
    expect(currentRun(s)?.queue).toEqual({ state: 'ready', ahead: 2 });
    expect(continueText(currentRun(s)!.queue!)).toBe('Continuing soon — 2 ahead');
    expect(sig(buildView(s)).filter((x) => x.startsWith('queued:'))).toEqual(['queued:second [Queued behind the current run]']);
    s = evs(s,
      ev('run.continued', R1, { reason: 'answered' }),
      ev('permission.resolved', R1, { request_id: 'rq1', tool_use_id: 'tu1', decision: 'allow' }),
    );
    expect(currentRun(s)).toMatchObject({ id: R1, parked: false, queue: null });
    expect(s.status).toBe('running');
    expect(s.permissions.rq1.status).toBe('allow');
  });

  it('a snapshot of a parked run ("waiting") is a started run, not a queued one', () => {
    const s = reduce(initialState('s1'), {
      type: 'snapshot', resumedFrom: null,
      snapshot: {
        session_id: 's1', status: 'waiting', active_run: { run_id: R1, kind: 'message', status: 'waiting', first_event_id: '1-0' },
        pending_permissions: [{ request_id: 'rq', tool_use_id: 'tx', tool: 'bash', input: { command: 'ls' }, summary: 'ls' }],
        last_event_id: '9-0', resume_after: '0-0',
      },
    });
    expect(currentRun(s)?.id).toBe(R1);
    expect(queuedRuns(s)).toEqual([]);
    expect(viewStatus(s)).toBe('waiting');
  });
});

describe('queue words', () => {
  it('says where a message stands', () => {
    expect(queueText({ state: 'ready', ahead: 2 })).toBe('Queued — 2 ahead');
    expect(queueText({ state: 'ready', ahead: 0 })).toBe('Starting…');
    expect(queueText({ state: 'user', ahead: 0 })).toBe('Queued — next, once one of your other runs finishes');
    expect(queueText({ state: 'session', ahead: 1 })).toBe('Queued behind the current run');
    expect(queueText(null)).toBe('Queued');
    expect(queueText({ ahead: -3 })).toBe('Queued');
  });
});
