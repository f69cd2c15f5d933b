// Browser end-to-end tests of the run scheduler's UI (docs/scheduler.md,
// issue 11): messages sent while Claude works are queued behind the current
// run and shown at once, marked "Queued" with where they stand; × removes one
// (DELETE /runs/{id}); after a reload the queued prompt is still shown (GET
// /messages `queued`); when its run starts it becomes the ordinary prompt,
// once. Called by e2e.mjs with its helpers (one TAP stream).

/**
 * @param {object} h  e2e.mjs's helpers: BASE, RUN, LONG, step, explain, diag,
 *   newPage, login, createSession, send, script, fake, shot, count, waitIdle
 */
export async function queueTests(h) {
  const { BASE, step, explain, diag, newPage, login, createSession, send, script, fake, shot, count, waitIdle } = h;
  const TITLE = `E2E queue ${h.RUN}`;
  const FIRST = 'Write me a long story (it keeps Claude busy)';
  const SECOND = 'A second message, to be removed';
  const THIRD = 'A third message, kept in the queue';
  const { ctx, page } = await newPage({}, 'queue');
  const queued = (text) => page.locator('.msg.user.queued', { hasText: text });
  const statusLine = () => page.locator('#composer-hint').textContent();

  let sid;
  await step('queue: a session with a long-running answer', async () => {
    await login(page);
    sid = await createSession(page, TITLE);
    // Turn 1: a slow answer (about 20 s) that the queued messages wait behind;
    // turn 2: the answer to the one that is kept.
    await script([{ text: h.LONG, delay_ms: 80 }, { text: 'Answer to the third message.' }]);
    await send(page, FIRST);
    await page.locator('.msg.assistant.streaming').first().waitFor({ timeout: 15000 });
    await page.locator('.topbar .badge.status-running').waitFor();
    return true;
  });

  await step('queue: the composer stays open while Claude works; a message sent now shows at once as "Queued"', async () => {
    const box = page.locator('#composer-input');
    if (!explain(await box.isEnabled(), 'the message box is disabled while Claude works')) return false;
    await send(page, SECOND);
    const b = queued(SECOND);
    await b.waitFor({ timeout: 5000 });
    const pos = (await b.locator('.queue-pos').textContent()).trim();
    const status = await statusLine();
    const checks = {
      pos, status, box: await box.inputValue(),
      removeButton: await b.getByRole('button', { name: 'Remove this queued message' }).count(),
      streaming: await count(page, '.msg.assistant.streaming'),
    };
    return explain(pos === 'Queued behind the current run' && checks.removeButton === 1 && checks.box === ''
      && /Claude is working… · 1 message queued/.test(status) && checks.streaming >= 1, checks);
  });

  await step('queue: a second queued message says how many are ahead', async () => {
    await send(page, THIRD);
    const b = queued(THIRD);
    await b.waitFor({ timeout: 5000 });
    await b.locator('.queue-pos', { hasText: 'Queued behind the current run — 2 ahead' }).waitFor({ timeout: 5000 });
    await shot(page, '20-queued');
    const status = await statusLine();
    return explain(/2 messages queued/.test(status), { status });
  });

  await step('queue: × removes a queued message; the one behind it moves up', async () => {
    await queued(SECOND).getByRole('button', { name: 'Remove this queued message' }).click();
    await queued(SECOND).waitFor({ state: 'detached', timeout: 5000 });
    // run.queue_position: one run ahead of it fewer.
    await queued(THIRD).locator('.queue-pos', { hasText: /^Queued behind the current run$/ }).waitFor({ timeout: 5000 });
    const checks = {
      second: await count(page, '.msg.user .bubble', SECOND),
      third: await count(page, '.msg.user .bubble', THIRD),
      status: await statusLine(),
    };
    return explain(checks.second === 0 && checks.third === 1 && /1 message queued/.test(checks.status), checks);
  });

  await step('queue: after a reload while queued, the prompt is still shown, marked queued; the removed one is not', async () => {
    await page.reload();
    await page.locator('.msg.user .bubble', { hasText: FIRST }).waitFor();
    const b = queued(THIRD);
    await b.waitFor({ timeout: 10000 });
    await b.locator('.queue-pos', { hasText: 'Queued behind the current run' }).waitFor();
    // Let the stream's replay of the run (and its queue events) settle.
    await page.locator('.msg.assistant', { hasText: 'Sentence number 1 ' }).first().waitFor({ timeout: 10000 });
    await shot(page, '21-queued-reload');
    const checks = {
      third: await count(page, '.msg.user .bubble', THIRD),
      thirdQueued: await count(page, '.msg.user.queued', THIRD),
      second: await count(page, '.msg.user .bubble', SECOND),
      first: await count(page, '.msg.user .bubble', FIRST),
      listed: await page.evaluate(async (id) => (await (await fetch(`/api/sessions/${id}/messages`)).json()).queued, sid),
    };
    return explain(checks.third === 1 && checks.thirdQueued === 1 && checks.second === 0 && checks.first === 1
      && Array.isArray(checks.listed) && checks.listed.length === 1, checks);
  });

  await step('queue: Stop ends the current run; the queued message starts and becomes the ordinary prompt, once', async () => {
    await page.locator('.topbar .stop-btn').click();
    await page.locator('.notice', { hasText: 'Stopped.' }).waitFor({ timeout: 10000 });
    const t0 = Date.now();
    await page.locator('.msg.assistant', { hasText: 'Answer to the third message.' }).waitFor({ timeout: 30000 });
    diag(`queue: the queued message's answer came ${((Date.now() - t0) / 1000).toFixed(1)} s after "Stopped."`);
    await waitIdle(page);
    await shot(page, '22-queue-done');
    const reqs = await fake('/_fake/requests');
    const last = JSON.stringify(reqs.requests[reqs.requests.length - 1].body.messages);
    // In order: the stopped answer, its notice, then the queued message and its answer.
    const order = await page.locator('[data-testid=transcript]').innerText();
    const at = (x) => order.indexOf(x);
    const checks = {
      inOrder: at('Sentence number 1 ') >= 0 && at('Sentence number 1 ') < at('Stopped.') && at('Stopped.') < at(THIRD)
        && at(THIRD) < at('Answer to the third message.'),
      third: await count(page, '.msg.user .bubble', THIRD),
      queuedLeft: await count(page, '.msg.user.queued'),
      second: await count(page, '.msg.user .bubble', SECOND),
      status: await statusLine(),
      sentThird: last.includes(THIRD),
      sentSecond: last.includes(SECOND),
    };
    return explain(checks.inOrder && checks.third === 1 && checks.queuedLeft === 0 && checks.second === 0 && checks.sentThird
      && !checks.sentSecond && !/working|Queued/.test(checks.status), checks);
  });

  await step('queue: after another reload the conversation holds each prompt once', async () => {
    await page.reload();
    await page.locator('.msg.assistant', { hasText: 'Answer to the third message.' }).waitFor();
    const checks = {
      first: await count(page, '.msg.user .bubble', FIRST),
      third: await count(page, '.msg.user .bubble', THIRD),
      second: await count(page, '.msg.user .bubble', SECOND),
      queued: await count(page, '.msg.user.queued'),
    };
    diag(`queue: after reload ${JSON.stringify(checks)}`);
    return explain(checks.first === 1 && checks.third === 1 && checks.second === 0 && checks.queued === 0, checks);
  });

  await step('queue: a parked run (waiting for approval) says so, and goes on after the answer', async () => {
    await script([
      { content: [{ type: 'tool_use', id: 'toolu_e2e_park', name: 'bash', input: { command: 'echo parked-and-back' } }] },
      { text: 'Back after the approval.' },
    ]);
    await send(page, 'Run a command that needs approval');
    await page.locator('.tool-card.bash .perm').waitFor({ timeout: 15000 });
    // run.parked follows permission.request once the runner has let the run go.
    await page.locator('.waiting-banner .waiting-note').waitFor({ timeout: 10000 });
    const status = await statusLine();
    await shot(page, '23-parked');
    await page.getByRole('button', { name: 'Allow once' }).click();
    const card = page.locator('.tool-card.bash', { hasText: 'echo parked-and-back' });
    await card.locator('.chip', { hasText: 'exit 0' }).waitFor({ timeout: 20000 });
    await page.locator('.msg.assistant', { hasText: 'Back after the approval.' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    return explain(status === 'Waiting for your approval', { status });
  });

  if (sid) {
    await page.evaluate(async (id) => fetch(`/api/sessions/${id}`, { method: 'DELETE', headers: { 'X-Requested-With': 'claude-web' } }), sid)
      .catch(() => {});
  }
  await page.goto(BASE + '/').catch(() => {});
  await ctx.close();
}
