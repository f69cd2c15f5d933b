// Browser end-to-end tests of the tool registry's search tools (issue 13):
// Claude calls glob and grep (ripgrep in the sandbox, never asking: class
// read), and the transcript shows them on search cards with the pattern and
// the result list, live and again after a reload.

export default async function tools(h) {
  const { step, explain, newPage, login, createSession, send, script, fake, shot, waitIdle } = h;
  const { page } = await newPage({}, 'tools');

  let sid;
  await step('tools: a session with a few files', async () => {
    await fake('/_fake/reset', {});
    await login(page);
    sid = await createSession(page, `E2E tools ${h.RUN}`);
    const put = (path, text) => page.evaluate(async ([id, p, t]) => (await fetch(
      `/api/sessions/${id}/files/content?path=${encodeURIComponent(p)}`,
      { method: 'PUT', headers: { 'X-Requested-With': 'claude-web', 'Content-Type': 'application/octet-stream' }, body: t },
    )).status, [sid, path, text]);
    const mk = (path) => page.evaluate(async ([id, p]) => (await fetch(`/api/sessions/${id}/files/mkdir`,
      { method: 'POST', headers: { 'X-Requested-With': 'claude-web', 'Content-Type': 'application/json' }, body: JSON.stringify({ path: p }) },
    )).status, [sid, path]);
    await mk('lib');
    const st = [await put('lib/alpha.py', 'def alpha():\n    return "needle"\n'),
      await put('lib/beta.py', 'def beta():\n    pass\n'), await put('notes.txt', 'a needle here\n')];
    return explain(st.every((s) => s === 200 || s === 201), st);
  });

  await step('tools: glob and grep run without asking and render as search cards with their results', async () => {
    await script([
      { content: [{ type: 'text', text: 'Searching.' },
        { type: 'tool_use', id: 'toolu_e2e_glob', name: 'glob', input: { pattern: '**/*.py' } },
        { type: 'tool_use', id: 'toolu_e2e_grep', name: 'grep', input: { pattern: 'needle', output_mode: 'content' } }] },
      { text: 'Found them.' },
    ]);
    await send(page, 'where is the needle?');
    await page.locator('.msg.assistant', { hasText: 'Found them.' }).waitFor({ timeout: 30000 });
    await waitIdle(page);
    const glob = page.locator('.tool-card.search', { hasText: '**/*.py' });
    const grep = page.locator('.tool-card.search', { hasText: 'needle' });
    await glob.locator('.search-list li').first().waitFor({ timeout: 10000 });
    const checks = {
      cards: await page.locator('.tool-card.search').count(),
      globItems: (await glob.locator('.search-list li').allInnerTexts()).sort(),
      grepItems: await grep.locator('.search-list li').allInnerTexts(),
      asked: await page.locator('.tool-card.search .perm').count(),
      states: await page.locator('.tool-card.search .chip').allInnerTexts(),
    };
    await shot(page, '60-search-cards');
    return explain(checks.cards === 2 && checks.globItems.join(' ') === 'lib/alpha.py lib/beta.py'
      && checks.grepItems.join(' ') === 'lib/alpha.py:2:    return "needle" notes.txt:1:a needle here'
      && checks.asked === 0 && checks.states.every((s) => s === 'Done'), checks);
  });

  await step('tools: after a reload the search cards show the same results', async () => {
    await page.reload();
    const glob = page.locator('.tool-card.search', { hasText: '**/*.py' });
    await glob.locator('.search-list li').first().waitFor({ timeout: 15000 });
    const items = (await glob.locator('.search-list li').allInnerTexts()).sort();
    const count = await page.locator('.tool-card.search').count();
    return explain(count === 2 && items.join(' ') === 'lib/alpha.py lib/beta.py', { count, items });
  });
}
