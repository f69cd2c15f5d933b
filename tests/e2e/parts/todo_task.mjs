// Browser end-to-end tests of the todo list and sub-agents (issue 13):
// todo_write's checklist appears above the composer and updates live while
// Claude works (the in-progress item highlighted, counts, collapsible), and
// survives a reload; a task call's card shows the sub-agent's own steps
// nested inside it (its text and its tool card) while it works and after a
// reload, with its report reaching Claude as the tool result.

export default async function todoTask(h) {
  const { step, explain, newPage, login, createSession, send, script, fake, shot, waitIdle } = h;
  const { ctx, page } = await newPage({}, 'todo_task');
  const panel = page.locator('[data-testid=todo-list]');
  const v1 = [
    { content: 'Read the notes', status: 'in_progress', activeForm: 'Reading the notes' },
    { content: 'Summarise them', status: 'pending', activeForm: 'Summarising them' },
  ];
  const v2 = [
    { content: 'Read the notes', status: 'completed', activeForm: 'Reading the notes' },
    { content: 'Summarise them', status: 'in_progress', activeForm: 'Summarising them' },
  ];
  let sid;

  await step('todo/task: a session with a file for the sub-agent to read', async () => {
    await login(page);
    sid = await createSession(page, `E2E todo ${h.RUN}`);
    const st = await page.evaluate(async (id) => (await fetch(`/api/sessions/${id}/files/content?path=notes.txt`, {
      method: 'PUT', headers: { 'X-Requested-With': 'claude-web', 'Content-Type': 'application/octet-stream' }, body: 'hi from the notes\n',
    })).status, sid);
    return explain(st === 200 || st === 201, { st });
  });

  await step('todo/task: the checklist appears above the composer, the item in progress highlighted', async () => {
    await fake('/_fake/reset', {});
    await script([
      { content: [{ type: 'text', text: 'Planning.' }, { type: 'tool_use', id: 'toolu_e2e_todo1', name: 'todo_write', input: { todos: v1 } }] },
      { content: [{ type: 'text', text: 'First one done.' }, { type: 'tool_use', id: 'toolu_e2e_todo2', name: 'todo_write', input: { todos: v2 } }],
        hold: { gate: 'e2e_todo2', after_events: 1, timeout: 60 } },
      { content: [{ type: 'text', text: 'Asking a helper.' }, { type: 'tool_use', id: 'toolu_e2e_task', name: 'task',
        input: { description: 'Read the notes', prompt: 'Read /workspace/notes.txt and say what it says.' } }] },
      { content: [{ type: 'text', text: 'Looking at the file.' }, { type: 'tool_use', id: 'toolu_e2e_view', name: 'str_replace_based_edit_tool',
        input: { command: 'view', path: '/workspace/notes.txt' } }] },
      { text: 'The notes say hi.', hold: { gate: 'e2e_child', after_events: 1, timeout: 60 } },
      { text: 'All done: the notes say hi.' },
    ]);
    await send(page, 'work through the notes');
    await panel.waitFor({ timeout: 20000 });
    const head = await panel.locator('.todo-head').innerText();
    const items = await panel.locator('.todo-item').count();
    const inProgress = await panel.locator('.todo-item.in_progress').innerText();
    const composerBelow = await page.evaluate(() => {
      const p = document.querySelector('[data-testid=todo-list]');
      const c = document.querySelector('#composer-input');
      return !!(p && c && p.getBoundingClientRect().bottom <= c.getBoundingClientRect().top + 1);
    });
    await shot(page, '60-todo-list');
    return explain(/0\/2 done/.test(head) && /Reading the notes/.test(head) && items === 2 && /Reading the notes/.test(inProgress) && composerBelow,
      { head, items, inProgress, composerBelow });
  });

  await step('todo/task: the checklist updates live with the next todo_write', async () => {
    await fake('/_fake/release', { gate: 'e2e_todo2' });
    await panel.locator('.todo-head', { hasText: '1/2 done' }).waitFor({ timeout: 20000 });
    const done = await panel.locator('.todo-item.completed').innerText();
    const now = await panel.locator('.todo-item.in_progress').innerText();
    return explain(/Read the notes/.test(done) && /Summarising them/.test(now), { done, now });
  });

  await step("todo/task: the task card shows the sub-agent's steps nested inside it while it works", async () => {
    const card = page.locator('.tool-card.task');
    await card.waitFor({ timeout: 20000 });
    await card.locator('.task-steps .tool-card.editor').waitFor({ timeout: 20000 });
    await card.locator('.task-steps .task-text', { hasText: 'Looking at the file.' }).waitFor();
    const head = card.locator('.tool-head').first();
    const state = await head.locator('.chip').last().innerText();
    const title = await head.locator('.tool-title').innerText();
    // The child's calls are not cards of their own in the conversation.
    const topLevelEditors = await page.locator('[data-testid=transcript] > .tool-card.editor').count();
    await shot(page, '61-task-card-working');
    return explain(/Working/.test(state) && /Read the notes/.test(title) && topLevelEditors === 0, { state, title, topLevelEditors });
  });

  await step("todo/task: the sub-agent's report ends the card and reaches Claude as the tool result", async () => {
    await fake('/_fake/release', { gate: 'e2e_child' });
    await page.locator('.msg.assistant', { hasText: 'All done: the notes say hi.' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    const card = page.locator('.tool-card.task');
    const last = await card.locator('.task-steps > *').last().innerText();
    const state = await card.locator('.tool-head').first().locator('.chip').last().innerText();
    const r = await fake('/_fake/requests');
    const reqs = r.requests;
    const final = reqs[reqs.length - 1].body.messages;
    const tr = final[final.length - 1].content.find((b) => b.type === 'tool_result');
    const child = reqs[reqs.length - 3].body.messages;
    return explain(/The notes say hi\./.test(last) && state === 'Done' && tr && tr.tool_use_id === 'toolu_e2e_task'
      && tr.content === 'The notes say hi.' && child.length === 1, { last, state, tr, childMessages: child.length });
  });

  await step('todo/task: after a reload the checklist and the nested steps are still there', async () => {
    await page.reload();
    await panel.locator('.todo-head', { hasText: '1/2 done' }).waitFor({ timeout: 20000 });
    const card = page.locator('.tool-card.task');
    await card.locator('.task-steps .tool-card.editor').waitFor({ timeout: 20000 });
    const texts = await card.locator('.task-steps .task-text').allInnerTexts();
    await shot(page, '62-task-card-reloaded');
    return explain(texts.some((t) => /Looking at the file/.test(t)) && texts.some((t) => /The notes say hi/.test(t)), { texts });
  });

  await step('todo/task: the checklist collapses and expands', async () => {
    await panel.locator('.todo-head').click();
    const hidden = await panel.locator('.todo-item').count();
    await panel.locator('.todo-head').click();
    const shown = await panel.locator('.todo-item').count();
    return explain(hidden === 0 && shown === 2, { hidden, shown });
  });

  await page.evaluate(async (id) => fetch(`/api/sessions/${id}`, { method: 'DELETE', headers: { 'X-Requested-With': 'claude-web' } }), sid);
  await ctx.close();
}
