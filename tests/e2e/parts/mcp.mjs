// Browser end-to-end tests of MCP servers (issue 13, docs/mcp.md): the
// session's MCP panel enables the admin's "notes" server (run.sh configures
// it: parts/mcp_server.py over stdio in the sandbox); Claude's call of
// mcp__notes__add_note is an MCP card that asks; "Allow once" runs the
// server in the session's sandbox (the note lands in the workspace), the
// card shows the result, the fake API got the server's text as the
// tool_result; after a reload the card, its approval and result are the same.
// A remote (url) server's mcp_tool_use / mcp_tool_result blocks, played by the
// fake API, are the same card without approval, live and after a reload.

export default async function mcp(h) {
  const { step, explain, newPage, login, createSession, send, script, fake, shot, waitIdle } = h;
  const { ctx, page } = await newPage({}, 'mcp');
  const card = () => page.locator('.tool-card.mcp');
  let sid;

  await step('mcp: a new session shows the MCP button with no server enabled', async () => {
    await login(page);
    sid = await createSession(page, `E2E mcp ${h.RUN}`);
    const btn = page.locator('.mcp-btn');
    await btn.waitFor({ timeout: 10000 });
    return explain((await btn.innerText()).trim() === 'MCP: 0', await btn.innerText());
  });

  await step('mcp: the panel lists the server (its tools not listed yet: runs list them); ticking it enables it for the session', async () => {
    await page.locator('.mcp-btn').click();
    const panel = page.locator('#mcp-panel');
    await panel.waitFor();
    const choice = panel.locator('.mcp-choice', { hasText: 'notes' });
    const text = await choice.innerText();
    await choice.getByRole('checkbox').check();
    await page.locator('.mcp-btn', { hasText: 'MCP: 1' }).waitFor({ timeout: 10000 });
    const s = await page.evaluate(async (id) => (await fetch(`/api/sessions/${id}`)).json(), sid);
    await shot(page, '60-mcp-panel');
    await panel.getByRole('button', { name: 'Close' }).click();
    return explain(/not listed yet/.test(text) && JSON.stringify(s.mcp_servers) === '["notes"]', { text, mcp: s.mcp_servers });
  });

  await step('mcp: Claude calls the MCP tool: an MCP card with server, tool and input asks for approval', async () => {
    await script([
      { content: [{ type: 'text', text: 'Saving it.' },
        { type: 'tool_use', id: 'toolu_mcp_e2e_1', name: 'mcp__notes__add_note', input: { text: 'buy milk' } }] },
      { text: 'Noted in notes.txt.' },
    ]);
    await send(page, 'remember to buy milk');
    await card().locator('.perm').waitFor({ timeout: 20000 });
    const head = await card().locator('.tool-head').innerText();
    const summary = await card().locator('.perm-summary').innerText();
    const input = await card().locator('.mcp-input').innerText();
    await shot(page, '61-mcp-approval');
    return explain(/notes/.test(head) && /add_note/.test(head) && /notes: add_note \{"text":"buy milk"\}/.test(summary)
      && /"buy milk"/.test(input), { head, summary, input });
  });

  await step('mcp: Allow once → the server runs in the sandbox; the card shows its result; Claude got it', async () => {
    await card().getByRole('button', { name: 'Allow once' }).click();
    await card().locator('.mcp-result', { hasText: 'noted: buy milk' }).waitFor({ timeout: 30000 });
    await page.locator('.msg.assistant', { hasText: 'Noted in notes.txt.' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    const reqs = (await fake('/_fake/requests')).requests;
    const first = reqs[reqs.length - 2].body;
    const last = reqs[reqs.length - 1].body;
    const msgs = last.messages;
    const tr = msgs[msgs.length - 1].content.find((b) => b.type === 'tool_result');
    const decl = first.tools.find((t) => t.name === 'mcp__notes__add_note');
    const file = await page.evaluate(async (id) => (await fetch(
      `/api/sessions/${id}/files/content?path=notes.txt`)).text(), sid);
    const outcome = await card().locator('.perm-outcome').innerText().catch(() => '');
    await shot(page, '62-mcp-result');
    return explain(tr && tr.content === 'noted: buy milk' && !tr.is_error && decl
      && decl.input_schema.required[0] === 'text' && file === 'buy milk\n' && /Allowed once/.test(outcome),
    { tr, decl, file, outcome });
  });

  await step('mcp: after a reload the MCP card, its approval and its result are drawn the same', async () => {
    await page.reload();
    await card().locator('.mcp-result', { hasText: 'noted: buy milk' }).waitFor({ timeout: 20000 });
    const head = await card().locator('.tool-head').innerText();
    const outcome = await card().locator('.perm-outcome').innerText().catch(() => '');
    const cards = await card().count();
    // The run listed the server: the panel now shows its tool.
    await page.locator('.mcp-btn').click();
    const listed = await page.locator('#mcp-panel .mcp-choice', { hasText: 'notes' }).innerText();
    await page.locator('#mcp-panel').getByRole('button', { name: 'Close' }).click();
    return explain(cards === 1 && /add_note/.test(head) && /Allowed once/.test(outcome) && /1 tool/.test(listed)
      && /add_note/.test(listed), { cards, head, outcome, listed });
  });

  await step('mcp: a remote server (the connector): its call and result are an MCP card without approval; the request carried mcp_servers', async () => {
    await page.locator('.mcp-btn').click();
    await page.locator('#mcp-panel .mcp-choice', { hasText: 'remote' }).getByRole('checkbox').check();
    await page.locator('.mcp-btn', { hasText: 'MCP: 2' }).waitFor({ timeout: 10000 });
    await page.locator('#mcp-panel').getByRole('button', { name: 'Close' }).click();
    await script([{ content: [
      { type: 'text', text: 'Asking the remote server.' },
      { type: 'mcp_tool_use', id: 'mcptoolu_e2e_1', name: 'lookup', server_name: 'remote', input: { q: 'weather' } },
      { type: 'mcp_tool_result', tool_use_id: 'mcptoolu_e2e_1', is_error: false, content: [{ type: 'text', text: 'sunny' }] },
      { type: 'text', text: 'It is sunny.' }] }]);
    await send(page, 'what is the weather');
    const remote = page.locator('.tool-card.mcp', { hasText: 'lookup' });
    await remote.locator('.mcp-result', { hasText: 'sunny' }).waitFor({ timeout: 20000 });
    await page.locator('.msg.assistant', { hasText: 'It is sunny.' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    const reqs = (await fake('/_fake/requests')).requests;
    const req = reqs[reqs.length - 1];
    const chip = await remote.locator('.mcp-server-chip').innerText();
    const asks = await remote.locator('.perm').count();
    await shot(page, '63-mcp-remote');
    return explain(chip === 'remote' && asks === 0 && req.body.mcp_servers?.[0]?.name === 'remote'
      && /mcp-client-2025-04-04/.test(req.headers['anthropic-beta'] || ''), { chip, asks, mcp: req.body.mcp_servers, beta: req.headers['anthropic-beta'] });
  });

  await step('mcp: after a reload the remote call is drawn from the history the same way', async () => {
    await page.reload();
    const remote = page.locator('.tool-card.mcp', { hasText: 'lookup' });
    await remote.locator('.mcp-result', { hasText: 'sunny' }).waitFor({ timeout: 20000 });
    const chip = await remote.locator('.mcp-server-chip').innerText();
    const cards = await page.locator('.tool-card.mcp').count();
    return explain(chip === 'remote' && cards === 2, { chip, cards });
  });

  await ctx.close();
}
