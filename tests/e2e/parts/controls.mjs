// Browser end-to-end tests of the in-session controls (issue 13): the
// permission-mode badge and Shift+Tab (persisted: a reload shows it), the
// model picker (the next request uses the model), plan mode's plan card
// (approve → accept edits continues the run), the slash-command menu
// (filter, arrows, Esc), /cost, /help, /clear (a divider; the next request
// starts fresh) and a custom command from .claude/commands (expanded by the
// server). Called by e2e.mjs with its helpers (one TAP stream).

export default async function controls(h) {
  const { BASE, step, explain, newPage, login, createSession, send, script, fake, shot, count, waitIdle } = h;
  const { ctx, page } = await newPage({}, 'controls');
  const box = page.locator('#composer-input');
  const badge = page.locator('.model-mode-bar select.mode-badge');
  const picker = page.locator('.model-mode-bar select.model-picker');
  const menu = page.locator('#slash-menu');
  const requests = async () => (await fake('/_fake/requests')).requests;
  const api = (path, method = 'GET', body) => page.evaluate(async ([p, m, b]) => {
    const r = await fetch(p, {
      method: m,
      headers: { 'X-Requested-With': 'claude-web', ...(b !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: b !== undefined ? JSON.stringify(b) : undefined,
    });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, [path, method, body]);

  let sid;
  await step('controls: the composer shows the permission mode and the model', async () => {
    await login(page);
    sid = await createSession(page, `E2E controls ${h.RUN}`);
    await badge.waitFor();
    // The picker shows the session's model at once and the others once
    // /api/models has answered (CI: counted before that, under load).
    await page.waitForFunction(() => document.querySelectorAll('.model-mode-bar select.model-picker option').length > 1,
      null, { timeout: 10000 }).catch(() => {});
    const checks = { mode: await badge.inputValue(), model: await picker.inputValue(), models: await picker.locator('option').count() };
    return explain(checks.mode === 'default' && checks.model !== '' && checks.models > 1, checks);
  });

  await step('controls: Shift+Tab cycles default → acceptEdits → plan; a reload shows plan', async () => {
    await box.click();
    await box.press('Shift+Tab');
    await page.locator('.model-mode-bar select.mode-badge[data-mode=acceptEdits]').waitFor({ timeout: 5000 });
    await box.press('Shift+Tab');
    await page.locator('.model-mode-bar select.mode-badge[data-mode=plan]').waitFor({ timeout: 5000 });
    const stored = (await api(`/api/sessions/${sid}`)).body.permission_mode;
    await page.reload();
    await badge.waitFor();
    await page.locator('.model-mode-bar select.mode-badge[data-mode=plan]').waitFor({ timeout: 10000 });
    await shot(page, 'controls-01-plan-mode');
    return explain(stored === 'plan', { stored });
  });

  let model;
  await step('controls: the model picker switches the model; the next request uses it', async () => {
    const ids = await picker.locator('option').evaluateAll((os) => os.map((o) => o.value));
    const cur = await picker.inputValue();
    model = ids.find((x) => x !== cur);
    await picker.selectOption(model);
    await page.waitForFunction(async ([id, m]) => (await (await fetch(`/api/sessions/${id}`)).json()).model === m, [sid, model]);
    await page.reload();
    await badge.waitFor();
    const shown = await picker.inputValue();
    return explain(shown === model, { model, shown, ids });
  });

  await step('controls: in plan mode Claude\'s plan shows as a card; "Approve plan → accept edits" continues the run', async () => {
    await fake('/_fake/reset', {});
    await script([
      { content: [{ type: 'text', text: 'Here is my plan.' },
        { type: 'tool_use', id: 'toolu_e2e_plan', name: 'exit_plan_mode', input: { plan: '# The plan\n\n1. Create **hello.txt**\n2. Check it' } }] },
      { text: 'Carrying out the plan now.' },
    ]);
    await send(page, 'Plan a hello file');
    const card = page.locator('.plan-card');
    await card.waitFor({ timeout: 20000 });
    const planText = await card.locator('.plan-body').innerText();
    await shot(page, 'controls-02-plan-card');
    await card.getByRole('button', { name: 'Approve plan → accept edits' }).click();
    await page.locator('.msg.assistant', { hasText: 'Carrying out the plan now.' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    await page.locator('.model-mode-bar select.mode-badge[data-mode=acceptEdits]').waitFor({ timeout: 5000 });
    const reqs = await requests();
    const last = reqs[reqs.length - 1].body;
    const tr = last.messages[last.messages.length - 1].content.find((b) => b.type === 'tool_result');
    const checks = {
      planText, nreq: reqs.length, model: last.model, tr: tr && tr.content, isError: tr && tr.is_error,
      outcome: await count(page, '.plan-outcome.allow'),
    };
    return explain(/The plan/.test(planText) && /Create hello\.txt/.test(planText) && reqs.length === 2 && last.model === model
      && /approved your plan/.test(checks.tr || '') && /acceptEdits/.test(checks.tr || '') && !checks.isError && checks.outcome === 1, checks);
  });

  await step('controls: typing / opens the command menu; typing filters, arrows move, Esc closes', async () => {
    await box.fill('');
    await box.pressSequentially('/');
    await menu.waitFor({ timeout: 5000 });
    const all = await menu.locator('[role=option]').count();
    await box.pressSequentially('co');
    await page.waitForFunction(() => document.querySelectorAll('#slash-menu [role=option]').length === 2);
    const names = await menu.locator('.slash-name').allInnerTexts();
    const first = await menu.locator('[aria-selected=true] .slash-name').innerText();
    await box.press('ArrowDown');
    const second = await menu.locator('[aria-selected=true] .slash-name').innerText();
    await shot(page, 'controls-03-slash-menu');
    await box.press('Escape');
    await menu.waitFor({ state: 'detached', timeout: 5000 });
    const checks = { all, names, first, second };
    return explain(all >= 8 && names.join() === '/compact,/cost' && first === '/compact' && second === '/cost', checks);
  });

  await step('controls: /cost shows the session\'s usage and cost (never sent to Claude)', async () => {
    const n0 = (await requests()).length;
    await box.fill('/cost');
    await box.press('Enter');
    const panel = page.locator('.info-panel');
    await panel.waitFor({ timeout: 5000 });
    const text = await panel.innerText();
    const n1 = (await requests()).length;
    return explain(/Cost of this session: \$/.test(text) && /Input: \d+ tokens/.test(text) && n0 === n1 && (await box.inputValue()) === '',
      { text, n0, n1 });
  });

  await step('controls: /help lists the commands', async () => {
    await box.fill('/help');
    await box.press('Enter');
    const panel = page.locator('.info-panel', { hasText: 'Slash commands' });
    await panel.waitFor({ timeout: 5000 });
    const text = await panel.innerText();
    return explain(['/clear', '/compact [focus]', '/model', '/mode', '/init', '/export'].every((c) => text.includes(c)), { text });
  });

  await step('controls: /clear starts a new conversation: a divider, the old messages gone, also after a reload', async () => {
    await box.fill('/clear');
    await box.press('Enter');
    await page.locator('.notice', { hasText: 'Context cleared' }).waitFor({ timeout: 15000 });
    await page.locator('.msg.assistant', { hasText: 'Carrying out the plan now.' }).waitFor({ state: 'detached', timeout: 10000 });
    await waitIdle(page);
    await page.reload();
    await page.locator('.notice', { hasText: 'Context cleared' }).waitFor({ timeout: 10000 });
    const old = await count(page, '.msg.user .bubble', 'Plan a hello file');
    await fake('/_fake/reset', {});
    await script([{ text: 'A fresh start.' }]);
    await send(page, 'Hello again');
    await page.locator('.msg.assistant', { hasText: 'A fresh start.' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    await shot(page, 'controls-04-cleared');
    const reqs = await requests();
    const msgs = reqs[0].body.messages;
    return explain(old === 0 && msgs.length === 1 && JSON.stringify(msgs[0]).includes('Hello again'), { old, msgs });
  });

  await step('controls: a custom command from .claude/commands shows in the menu and is sent expanded', async () => {
    const dirs = [(await api(`/api/sessions/${sid}/files/mkdir`, 'POST', { path: '.claude' })).status,
      (await api(`/api/sessions/${sid}/files/mkdir`, 'POST', { path: '.claude/commands' })).status];
    if (!explain(dirs.every((x) => x === 201), { dirs })) return false;
    const put = await page.evaluate(async ([id, t]) => (await fetch(
      `/api/sessions/${id}/files/content?path=${encodeURIComponent('.claude/commands/greet.md')}`,
      { method: 'PUT', headers: { 'X-Requested-With': 'claude-web', 'Content-Type': 'application/octet-stream' }, body: t },
    )).status, [sid, '---\ndescription: Greet someone\nargument-hint: <name>\n---\nPlease greet $ARGUMENTS warmly.\n']);
    await fake('/_fake/reset', {});
    await script([{ text: 'Hello, Ada!' }]);
    await box.fill('');
    await box.pressSequentially('/gr');
    await menu.locator('.slash-item', { hasText: 'Greet someone' }).waitFor({ timeout: 10000 });
    await box.press('Tab');
    const completed = await box.inputValue();
    await box.pressSequentially('Ada');
    await box.press('Enter');
    await page.locator('.msg.assistant', { hasText: 'Hello, Ada!' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    await page.locator('.msg.user .bubble', { hasText: 'Please greet Ada warmly.' }).waitFor({ timeout: 10000 });
    const reqs = await requests();
    const content = JSON.stringify(reqs[0].body.messages[reqs[0].body.messages.length - 1].content);
    return explain((put === 200 || put === 201) && completed === '/greet ' && content.includes('Please greet Ada warmly.')
      && !content.includes('/greet'), { put, completed, content });
  });

  await step('controls: the mode badge picks plan mode; "Keep planning" sends the message back and stays in plan mode', async () => {
    await badge.selectOption('plan');
    await page.locator('.model-mode-bar select.mode-badge[data-mode=plan]').waitFor({ timeout: 5000 });
    await fake('/_fake/reset', {});
    await script([
      { content: [{ type: 'tool_use', id: 'toolu_e2e_plan2', name: 'exit_plan_mode', input: { plan: '1. Rewrite everything' } }] },
      { text: 'I will plan more carefully.' },
    ]);
    await send(page, 'Plan something else');
    const card = page.locator('.plan-card');
    await card.waitFor({ timeout: 20000 });
    await card.locator('.plan-message').fill('smaller steps, please');
    await card.getByRole('button', { name: 'Keep planning' }).click();
    await page.locator('.msg.assistant', { hasText: 'I will plan more carefully.' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    const reqs = await requests();
    const last = reqs[reqs.length - 1].body;
    const tr = last.messages[last.messages.length - 1].content.find((b) => b.type === 'tool_result');
    const checks = {
      outcome: await page.locator('.plan-outcome').last().innerText(),
      mode: await badge.inputValue(), stored: (await api(`/api/sessions/${sid}`)).body.permission_mode,
      tr: tr && tr.content, isError: tr && tr.is_error,
    };
    return explain(/Keep planning: “smaller steps, please”/.test(checks.outcome) && checks.mode === 'plan' && checks.stored === 'plan'
      && checks.isError === true && /keep planning/.test(checks.tr || '') && /smaller steps, please/.test(checks.tr || ''), checks);
  });

  if (sid) {
    await page.evaluate(async (id) => fetch(`/api/sessions/${id}`, { method: 'DELETE', headers: { 'X-Requested-With': 'claude-web' } }), sid)
      .catch(() => {});
  }
  await page.goto(BASE + '/').catch(() => {});
  await ctx.close();
}
