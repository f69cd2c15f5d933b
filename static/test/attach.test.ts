import { describe, expect, it } from 'vitest';
import { attachedPath, imageUrl, mentionAt, mentionedFiles, toBase64 } from '../src/lib/images';
import { buildView, initialState, promptUnits, reduce } from '../src/lib/transcript';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const img = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } };
const file = (p: string, body: string) => ({ type: 'text', text: `<attached_file path="${p}">\n${body}\n</attached_file>` });

describe('@-mentions', () => {
  it('finds the @word at the caret', () => {
    expect(mentionAt('Explain @sr', 11)).toEqual({ start: 8, query: 'sr' });
    expect(mentionAt('@', 1)).toEqual({ start: 0, query: '' });
    expect(mentionAt('mail a@b.c', 10)).toBeNull();
    expect(mentionAt('Explain @src/a.c now', 20)).toBeNull();
  });
  it('attaches only the chosen files the text still mentions, once each', () => {
    expect(mentionedFiles('see @src/a.c and @src/a.c, not @b', ['src/a.c', 'b.c', 'x'])).toEqual(['src/a.c']);
    expect(mentionedFiles('see @src/a.cpp', ['src/a.c'])).toEqual([]);
  });
  it('reads the path of an attached-file block (entities decoded)', () => {
    expect(attachedPath('<attached_file path="a &quot;b&quot; &amp; &lt;c&gt;">\nx\n</attached_file>')).toBe('a "b" & <c>');
    expect(attachedPath('hello')).toBeNull();
  });
});

describe('images', () => {
  it('base64 of bytes', () => {
    expect(toBase64(new Uint8Array([0x89, 0x50, 0x4e, 0x47]))).toBe('iVBORw==');
  });
  it('data: URLs only for the four types and clean base64', () => {
    expect(imageUrl(img)).toBe(`data:image/png;base64,${PNG}`);
    expect(imageUrl({ source: { type: 'base64', media_type: 'image/svg+xml', data: 'PHN2Zz4=' } })).toBe('');
    expect(imageUrl({ source: { type: 'base64', media_type: 'image/png', data: 'a"onerror=x' } })).toBe('');
    expect(imageUrl({ source: { type: 'url', media_type: 'image/png', data: PNG } })).toBe('');
  });
});

describe('prompts with attachments in the transcript', () => {
  it('files and images belong to the text after them; they are not bubbles', () => {
    const m = { role: 'user' as const, content: [file('src/a.c', 'int a;'), img, { type: 'text', text: 'first' }, img, { type: 'text', text: 'second' }] };
    const u = promptUnits(m);
    expect(u.texts).toEqual(['first', 'second']);
    expect(u.units[0].files).toEqual(['src/a.c']);
    expect(u.units[0].images.length).toBe(1);
    expect(u.units[1].files).toEqual([]);
    expect(u.units[1].blocks).toEqual([img, { type: 'text', text: 'second' }]);
    let s = initialState();
    s = reduce(s, { type: 'history', asOf: null, want: 1, messages: [m, { role: 'assistant', content: [{ type: 'text', text: 'ok' }] }] });
    const users = buildView(s).filter((i) => i.kind === 'user');
    expect(users.map((i) => i.kind === 'user' && i.text)).toEqual(['first', 'second']);
    expect(users[0].kind === 'user' && users[0].files).toEqual(['src/a.c']);
    expect(users[1].kind === 'user' && users[1].images?.length).toBe(1);
  });
});

describe('Retry and what this window sent', () => {
  it('a failed turn carries its prompt (text, images, files) for Retry; the images show on the prompt at once', async () => {
    const { withSentAttachments } = await import('../src/components/Attachments');
    let s = initialState();
    s = reduce(s, { type: 'localPrompt', runId: 'r1', text: 'look at this' });
    let n = 0;
    const ev = (type: string, data: Record<string, unknown>) => reduce(s, { type: 'event', event: { id: `${7000 + ++n}-0`, type, data: { ...data, run_id: 'r1' } } });
    s = ev('run.queued', { kind: 'message', state: 'ready', ahead: 0 });
    s = ev('run.started', { kind: 'message' });
    const before = withSentAttachments(buildView(s), { r1: { images: [img as never], files: ['src/a.c'] } });
    const p = before.find((i) => i.kind === 'user');
    expect(p && p.kind === 'user' && [p.text, p.images?.length, p.files]).toEqual(['look at this', 1, ['src/a.c']]);
    s = ev('run.error', { type: 'api_error', message: 'boom' });
    // The history has the prompt as stored: the retry sends exactly those blocks again.
    s = reduce(s, {
      type: 'history', asOf: s.lastEventId, want: s.historyWanted,
      messages: [{ role: 'user', content: [file('src/a.c', 'int a;'), img, { type: 'text', text: 'look at this' }] } as never],
    });
    const n2 = buildView(s).find((i) => i.kind === 'notice' && i.code === 'run_error');
    const retry = n2 && n2.kind === 'notice' ? (n2.data.retry as { text: string; blocks: unknown[] }) : null;
    expect(retry?.text).toBe('look at this');
    expect(retry?.blocks).toEqual([file('src/a.c', 'int a;'), img, { type: 'text', text: 'look at this' }]);
  });
});
