import { describe, expect, it } from 'vitest';
import { buildView, initialState, reduce, type TranscriptState, type ViewItem } from '../src/lib/transcript';
import type { HistoryMessage, StreamEvent } from '../src/lib/types';
import { citationsOf, domainProblem, parseDomains, safeUrl, webFromBlock } from '../src/lib/web';

const SEARCH = 'srvtoolu_01A';
const BLOCKS = [
  { type: 'text', text: 'Let me search.' },
  { type: 'server_tool_use', id: SEARCH, name: 'web_search', input: { query: 'preact signals' } },
  {
    type: 'web_search_tool_result', tool_use_id: SEARCH, content: [
      { type: 'web_search_result', url: 'https://preactjs.com/guide/v10/signals', title: 'Signals', encrypted_content: 'E1', page_age: '3 days ago' },
      { type: 'web_search_result', url: 'javascript:alert(1)', title: 'Evil', encrypted_content: 'E2' },
    ],
  },
  {
    type: 'text', text: 'Signals are reactive values.', citations: [
      { type: 'web_search_result_location', url: 'https://preactjs.com/guide/v10/signals', title: 'Signals', encrypted_index: 'X', cited_text: 'Signals are reactive primitives' },
    ],
  },
];

function tool(v: ViewItem[]) {
  return v.find((i) => i.kind === 'tool') as Extract<ViewItem, { kind: 'tool' }> | undefined;
}
function texts(v: ViewItem[]) {
  return v.filter((i) => i.kind === 'text') as Array<Extract<ViewItem, { kind: 'text' }>>;
}

describe('the web in the transcript', () => {
  it('draws a search card with its results and the cited sources from the history', () => {
    const history: HistoryMessage[] = [
      { role: 'user', content: 'what are signals?' },
      { role: 'assistant', content: BLOCKS as HistoryMessage['content'] },
    ];
    const s = reduce(initialState('s1'), { type: 'history', messages: history, asOf: null, want: 1 });
    const v = buildView(s);
    const t = tool(v)!;
    expect(t.name).toBe('web_search');
    expect(t.state).toBe('done');
    expect(t.input).toEqual({ query: 'preact signals' });
    expect(t.result?.web?.results?.map((r) => r.title)).toEqual(['Signals', 'Evil']);
    const cited = texts(v).find((x) => x.citations);
    expect(cited?.citations?.[0]).toEqual({
      type: 'web_search_result_location', url: 'https://preactjs.com/guide/v10/signals', title: 'Signals',
      cited_text: 'Signals are reactive primitives',
    });
  });

  it('draws them live from tool.use, tool.result and text.citations', () => {
    let n = 0;
    const e = (type: string, data: Record<string, unknown>): StreamEvent => ({ id: `${1000 + n++}-0`, type, data: { ...data, run_id: 'r1' } });
    let s: TranscriptState = initialState('s1');
    s = reduce(s, { type: 'events', events: [
      e('run.started', { kind: 'message' }),
      e('message.start', { message_id: 'm1' }),
      e('tool.use', { index: 0, id: SEARCH, name: 'web_search', input: { query: 'q' }, server: true, card: 'web' }),
      e('tool.result', { tool_use_id: SEARCH, name: 'web_search', server: true, is_error: false, content: '1 result',
        results: [{ url: 'https://example.com/a', title: 'A', page_age: '1 day' }] }),
      e('text.delta', { index: 1, text: 'Cited.' }),
      e('text.citations', { index: 1, citations: [{ type: 'web_search_result_location', url: 'https://example.com/a', title: 'A', cited_text: 'a' }] }),
    ] });
    const v = buildView(s);
    const t = tool(v)!;
    expect(t.state).toBe('done');
    expect(t.result?.web).toEqual({ kind: 'search', results: [{ url: 'https://example.com/a', title: 'A', page_age: '1 day' }],
      url: undefined, title: undefined, retrievedAt: undefined, errorCode: undefined });
    expect(texts(v)[0].citations?.[0].url).toBe('https://example.com/a');
  });

  it('reads errors and fetches from result blocks', () => {
    expect(webFromBlock({ type: 'web_search_tool_result', tool_use_id: 'x', content: { type: 'web_search_tool_result_error', error_code: 'max_uses_exceeded' } }))
      .toEqual({ content: 'failed: max_uses_exceeded', isError: true, web: { kind: 'search', errorCode: 'max_uses_exceeded' } });
    expect(webFromBlock({ type: 'web_fetch_tool_result', tool_use_id: 'x', content: { type: 'web_fetch_result', url: 'https://e.com/p', retrieved_at: 't', content: { type: 'document', title: 'P' } } }).web)
      .toEqual({ kind: 'fetch', url: 'https://e.com/p', title: 'P', retrievedAt: 't' });
  });

  it('links only http(s), splits typed domains, ignores empty citations', () => {
    expect(safeUrl('javascript:alert(1)')).toBeNull();
    expect(safeUrl('https://example.com/x')).toBe('https://example.com/x');
    expect(parseDomains(' Example.com,docs.python.org\nfoo.org  ')).toEqual(['example.com', 'docs.python.org', 'foo.org']);
    expect(citationsOf([])).toBeUndefined();
    expect(citationsOf(null)).toBeUndefined();
    for (const d of ['example.com', 'docs.python.org', 'a-b.co.uk', 'x1.io']) expect(domainProblem(d)).toBeNull();
    for (const d of ['https://example.com', '*.example.com', '10.0.0.1', 'example.com/docs', 'localhost', '-x.example.com', 'ex ample.com']) {
      expect(domainProblem(d)).toMatch(/not a hostname/);
    }
  });
});
