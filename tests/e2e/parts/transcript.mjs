// Browser end-to-end tests of the durable transcript (issue 13): an approved
// call, a call denied with a message, a stopped run, a failed run and a
// retried one are drawn the same — cards, decisions, who answered, notices —
// after a reload and in a second browser context (another device); a new
// session gets its title after the first answer (live, in the list); the
// sidebar's search finds a session by its message text, with a snippet.

import { readFileSync } from 'node:fs';

export default async function transcript(h) {
  const { BASE, RUN, step, explain, newPage, login, createSession, send, script, fake, shot, waitIdle } = h;
  const { ctx, page } = await newPage({}, 'transcript');
  const WORD = `zebrafish${RUN}`;
  let sid;

  // The text of what the durable transcript is about, in order: tool cards
  // (state chip, decision line) and notices.
  const items = (p) => p.evaluate(() => Array.from(document.querySelectorAll(
    '[data-testid=transcript] .tool-card, [data-testid=transcript] .notice',
  )).map((el) => {
    if (el.classList.contains('notice')) return `notice: ${el.innerText.trim()}`;
    const chip = el.querySelector('.tool-meta');
    const outcome = el.querySelector('.perm-outcome');
    return `tool: ${chip ? chip.innerText.trim().replace(/\d+(\.\d+)? ?m?s\b/g, '') : ''} | ${outcome ? outcome.innerText.trim() : ''}`;
  }));

  await step('transcript: approve one call, deny another with a message', async () => {
    await fake('/_fake/reset', {});
    await login(page);
    sid = await createSession(page, `E2E transcript ${RUN}`);
    await script([
      { content: [{ type: 'text', text: 'Two commands.' },
        { type: 'tool_use', id: 'toolu_e2e_tr_a', name: 'bash', input: { command: `echo ${WORD}` } },
        { type: 'tool_use', id: 'toolu_e2e_tr_d', name: 'bash', input: { command: 'printf denied-please' } }] },
      { text: 'Finished the commands.' },
    ]);
    await send(page, `run two commands about ${WORD}`);
    const first = page.locator('.tool-card', { hasText: `echo ${WORD}` });
    await first.locator('.perm').waitFor({ timeout: 20000 });
    await first.getByRole('button', { name: 'Allow once' }).click();
    const second = page.locator('.tool-card', { hasText: 'printf denied-please' });
    await second.locator('.perm').waitFor({ timeout: 20000 });
    await second.locator('.perm-message').fill('not this one');
    await second.getByRole('button', { name: 'Deny' }).click();
    await page.locator('.msg.assistant', { hasText: 'Finished the commands.' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    const a = await first.locator('.perm-outcome').innerText();
    const d = await second.locator('.perm-outcome').innerText();
    return explain(/Allowed once/.test(a) && /answered by/.test(a) && /Denied: “not this one”/.test(d), { a, d });
  });

  await step('transcript: stop a run, fail one, retry one', async () => {
    await script([{ text: Array.from({ length: 60 }, (_, i) => `Slow sentence ${i + 1}.`).join(' '), delay_ms: 80 }]);
    await send(page, 'talk slowly');
    await page.locator('.msg.assistant', { hasText: 'Slow sentence 2.' }).waitFor({ timeout: 20000 });
    await page.locator('.topbar .stop-btn').click();
    await page.locator('.notice', { hasText: 'Stopped.' }).waitFor({ timeout: 15000 });
    await waitIdle(page);
    await script([{ fault: { type: 'http', status: 400, message: 'broken on purpose' } }]);
    await send(page, 'fail please');
    await page.locator('.notice.error').waitFor({ timeout: 20000 });
    await script([{ fault: { type: 'http', status: 529 } }, { text: 'Fine after a retry.' }]);
    await send(page, 'retry please');
    await page.locator('.msg.assistant', { hasText: 'Fine after a retry.' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    await page.locator('.notice', { hasText: 'retried' }).waitFor({ timeout: 15000 });
    const stopped = await page.locator('.notice', { hasText: 'Stopped.' }).innerText();
    return explain(/By /.test(stopped), { stopped });
  });

  let before;
  await step('transcript: after a reload, the cards, decisions and notices read exactly the same', async () => {
    before = await items(page);
    await shot(page, 'transcript-01-live');
    await page.reload();
    await page.locator('.msg.assistant', { hasText: 'Fine after a retry.' }).waitFor({ timeout: 20000 });
    await page.locator('.notice', { hasText: 'retried' }).waitFor({ timeout: 15000 });
    const after = await items(page);
    await shot(page, 'transcript-02-reloaded');
    const denied = after.find((t) => /Denied: “not this one”/.test(t)) || '';
    return explain(JSON.stringify(after) === JSON.stringify(before) && before.length >= 5 && !/Failed/.test(denied),
      { before, after });
  });

  await step('transcript: on another device (a second browser context) the same', async () => {
    const other = await newPage({}, 'transcript-device2');
    await login(other.page);
    await other.page.goto(`${BASE}/sessions/${sid}`);
    await other.page.locator('.msg.assistant', { hasText: 'Fine after a retry.' }).waitFor({ timeout: 20000 });
    await other.page.locator('.notice', { hasText: 'retried' }).waitFor({ timeout: 15000 });
    const there = await items(other.page);
    await other.ctx.close();
    return explain(JSON.stringify(there) === JSON.stringify(before), { before, there });
  });

  await step('transcript: a new session gets its title after the first answer, live in the list', async () => {
    const id = await page.evaluate(async () => (await (await fetch('/api/sessions', {
      method: 'POST', headers: { 'X-Requested-With': 'claude-web', 'Content-Type': 'application/json' }, body: '{}',
    })).json()).id);
    await page.goto(`${BASE}/sessions/${id}`);
    await script([{ text: 'Here is the summary.' }]);
    await send(page, `Summarise the notes about ${WORD} please. Thanks a lot!`);
    await page.locator('.msg.assistant', { hasText: 'Here is the summary.' }).waitFor({ timeout: 20000 });
    const want = `Summarise the notes about ${WORD} please`;
    await page.locator('.session-item.current .session-title', { hasText: want }).waitFor({ timeout: 20000 });
    await page.locator('.topbar-title', { hasText: want }).waitFor({ timeout: 5000 });
    return true;
  });

  await step('transcript: the search box finds a session by its message text, with a snippet', async () => {
    await page.locator('#session-search').fill(`two commands about ${WORD}`);
    const hit = page.locator('.search-results .session-item', { hasText: `E2E transcript ${RUN}` });
    await hit.waitFor({ timeout: 10000 });
    const snippet = await hit.locator('.session-snippet').innerText();
    const n = await page.locator('.search-results .session-item').count();
    await shot(page, 'transcript-03-search');
    await hit.locator('a').click();
    await page.waitForURL(new RegExp(`/sessions/${sid}$`));
    await page.locator('#session-search').fill('');
    return explain(n === 1 && snippet.includes(WORD), { n, snippet });
  });

  await step('transcript: Export downloads the session as Markdown (title, approvals, notices) and as JSON', async () => {
    const item = page.locator('.session-list .session-item', { hasText: `E2E transcript ${RUN}` });
    const [md] = await Promise.all([page.waitForEvent('download'), item.getByRole('link', { name: /as Markdown/ }).click()]);
    const text = readFileSync(await md.path(), 'utf8');
    const [js] = await Promise.all([page.waitForEvent('download'), item.getByRole('link', { name: /as JSON/ }).click()]);
    const j = JSON.parse(readFileSync(await js.path(), 'utf8'));
    const checks = {
      name: md.suggestedFilename(), jname: js.suggestedFilename(),
      title: text.startsWith(`# E2E transcript ${RUN}`),
      allowed: /Allowed by \S+/.test(text), denied: /Denied by \S+: “not this one”/.test(text),
      stopped: /\*\*Stopped\*\* by \S+/.test(text), error: /\*\*Error\*\* \(/.test(text),
      jsonNotices: Array.isArray(j.notices) && j.notices.some((n) => n.event === 'permission.resolved' && n.decision === 'deny'),
      jsonMessages: Array.isArray(j.messages) && j.messages.length > 0 && j.session?.id === sid,
    };
    return explain(checks.name === `session-${sid}.md` && checks.jname === `session-${sid}.json` && checks.title
      && checks.allowed && checks.denied && checks.stopped && checks.error && checks.jsonNotices && checks.jsonMessages, checks);
  });

  await ctx.close();
}
