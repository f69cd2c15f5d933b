// Browser end-to-end tests of what the composer sends besides text (issue 13):
// the @ menu (fuzzy file search, choosing inserts @path, the file's content
// reaches Claude), a pasted image (thumbnail before sending, an image block at
// the fake API byte for byte, a thumbnail in the transcript after a reload,
// full size on click), the queue while Claude works, Retry of a failed turn,
// and the copy buttons (read back from the clipboard).

// A 1x1 PNG.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

export default async function composer(h) {
  const { BASE, step, explain, diag, newPage, login, createSession, send, script, fake, shot, count, waitIdle } = h;
  const { ctx, page } = await newPage({ permissions: ['clipboard-read', 'clipboard-write'] }, 'composer');
  const box = page.locator('#composer-input');
  const lastRequest = async () => {
    const r = await fake('/_fake/requests');
    return r.requests[r.requests.length - 1];
  };
  const lastUser = (req) => req.body.messages[req.body.messages.length - 1];

  let sid;
  await step('composer: a session with files to mention', async () => {
    // Turns another part left queued must not answer ours.
    await fake('/_fake/reset', {});
    await login(page);
    sid = await createSession(page, `E2E composer ${h.RUN}`);
    const put = (path, text) => page.evaluate(async ([id, p, t]) => (await fetch(
      `/api/sessions/${id}/files/content?path=${encodeURIComponent(p)}`,
      { method: 'PUT', headers: { 'X-Requested-With': 'claude-web', 'Content-Type': 'application/octet-stream' }, body: t },
    )).status, [sid, path, text]);
    const mk = (path) => page.evaluate(async ([id, p]) => (await fetch(`/api/sessions/${id}/files/mkdir`,
      { method: 'POST', headers: { 'X-Requested-With': 'claude-web', 'Content-Type': 'application/json' }, body: JSON.stringify({ path: p }) },
    )).status, [sid, path]);
    await mk('src');
    await mk('docs');
    const st = [await put('src/hello.c', 'int hello(void) { return 42; }\n'), await put('docs/other.txt', 'other\n'),
      await put('src/help.md', 'help\n')];
    return explain(st.every((s) => s === 200 || s === 201), st);
  });

  await step('composer: typing @ opens the file menu; typing filters it (fuzzy)', async () => {
    await box.click();
    await box.pressSequentially('Explain @');
    const menu = page.locator('.mention-menu');
    await menu.waitFor({ timeout: 5000 });
    const all = await menu.locator('li').count();
    await box.pressSequentially('hlo');
    await menu.locator('li', { hasText: 'hello.c' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('.mention-menu li').length === 1);
    const items = await menu.locator('li').allInnerTexts();
    await shot(page, '40-mention-menu');
    return explain(all === 3 && items.length === 1 && /hello\.c/.test(items[0]) && /src/.test(items[0]), { all, items });
  });

  await step('composer: Enter chooses the file: @src/hello.c is inserted', async () => {
    await box.press('Enter');
    await page.locator('.mention-menu').waitFor({ state: 'detached' });
    const v = await box.inputValue();
    return explain(v === 'Explain @src/hello.c ', { v });
  });

  await step("composer: sent, the file's content reaches Claude as a text block with its path; the message shows the file", async () => {
    await script([{ text: 'It returns 42.' }]);
    await box.pressSequentially('please');
    await box.press('Enter');
    await page.locator('.msg.assistant', { hasText: 'It returns 42.' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    const req = await lastRequest();
    const c = lastUser(req).content;
    await page.locator('.msg.user .file-chip', { hasText: '@src/hello.c' }).waitFor({ timeout: 10000 });
    const checks = {
      first: c[0]?.text, last: c[c.length - 1]?.text,
      bubbles: await count(page, '.msg.user .bubble', 'Explain @src/hello.c please'),
      fileBubble: await count(page, '.msg.user .bubble', 'attached_file'),
    };
    return explain(checks.first === '<attached_file path="src/hello.c">\nint hello(void) { return 42; }\n</attached_file>'
      && checks.last === 'Explain @src/hello.c please' && checks.bubbles === 1 && checks.fileBubble === 0, checks);
  });

  await step('composer: a pasted PNG shows as a removable thumbnail before sending', async () => {
    const paste = () => page.evaluate((b64) => {
      const bin = atob(b64);
      const u = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([u], 'dot.png', { type: 'image/png' }));
      const ev = new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true });
      document.querySelector('#composer-input').dispatchEvent(ev);
      return ev.defaultPrevented;
    }, PNG);
    const prevented = await paste();
    await page.locator('.pending-attachments .thumb img').waitFor({ timeout: 5000 });
    await paste();
    await page.waitForFunction(() => document.querySelectorAll('.pending-attachments .thumb').length === 2);
    await page.locator('.pending-attachments .remove-image').first().click();
    await page.waitForFunction(() => document.querySelectorAll('.pending-attachments .thumb').length === 1);
    await shot(page, '41-pasted-image');
    const src = await page.locator('.pending-attachments .thumb img').getAttribute('src');
    return explain(prevented && src === `data:image/png;base64,${PNG}`, { prevented, src: src?.slice(0, 40) });
  });

  await step('composer: images can be picked too; a file that is not an image is refused with a reason', async () => {
    const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');
    await page.locator('[data-testid=image-input]').setInputFiles([
      { name: 'pick.gif', mimeType: 'image/gif', buffer: gif },
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') },
    ]);
    await page.waitForFunction(() => document.querySelectorAll('.pending-attachments .thumb').length === 2);
    const why = await page.locator('.pending-attachments .attach-error').textContent();
    await page.getByRole('button', { name: 'Remove pick.gif' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.pending-attachments .thumb').length === 1);
    return explain(/notes\.txt is not a PNG, JPEG, GIF or WebP image/.test(why || ''), { why });
  });

  await step('composer: a dropped image is added; a dropped non-image is refused (the page is not replaced by it)', async () => {
    const url = page.url();
    const prevented = await page.evaluate((b64) => {
      const bin = atob(b64);
      const u = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([u], 'dropped.png', { type: 'image/png' }));
      dt.items.add(new File(['x'], 'readme.txt', { type: 'text/plain' }));
      const form = document.querySelector('form.composer');
      form.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      const ev = new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true });
      form.dispatchEvent(ev);
      return ev.defaultPrevented;
    }, PNG);
    await page.getByRole('button', { name: 'Remove dropped.png' }).waitFor({ timeout: 5000 });
    const why = await page.locator('.pending-attachments .attach-error').textContent();
    await page.getByRole('button', { name: 'Remove dropped.png' }).click();
    await page.waitForFunction(() => document.querySelectorAll('.pending-attachments .thumb').length === 1);
    return explain(prevented && page.url() === url && /Only images can go with a message/.test(why || ''), { prevented, why });
  });

  await step('composer: sent, the message shows its image while Claude answers; the image block reaches Claude byte for byte; the composer is cleared', async () => {
    await script([{ text: 'A single pixel.', hold: { gate: 'composer-image', after_events: 4, timeout: 60 } }]);
    await send(page, 'What is in this picture?');
    // While Claude answers, the sent message already shows its image.
    await page.locator('.msg.user', { hasText: 'What is in this picture?' }).locator('.msg-attachments .thumb img')
      .waitFor({ timeout: 10000 });
    // (The fake holds the answer at its gate: it cannot have finished.)
    const whileRunning = 1 - await count(page, '.msg.assistant', 'A single pixel.');
    await fake('/_fake/release', { gate: 'composer-image' });
    await page.locator('.msg.assistant', { hasText: 'A single pixel.' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    const c = lastUser(await lastRequest()).content;
    const img = c.find((b) => b.type === 'image');
    const checks = {
      img: img && JSON.stringify({ type: img.type, source: img.source }),
      text: c[c.length - 1]?.text,
      pending: await count(page, '.pending-attachments .thumb'),
      whileRunning,
    };
    return explain(checks.img === JSON.stringify({ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } })
      && checks.text === 'What is in this picture?' && checks.pending === 0 && checks.whileRunning === 1, checks);
  });

  await step('composer: after a reload the message shows the image thumbnail; a click shows it in full', async () => {
    await page.reload();
    const msg = page.locator('.msg.user', { hasText: 'What is in this picture?' });
    await msg.waitFor({ timeout: 10000 });
    const thumb = msg.locator('.msg-attachments .thumb img');
    await thumb.waitFor({ timeout: 5000 });
    const src = await thumb.getAttribute('src');
    await msg.locator('.msg-attachments button.thumb').click();
    const full = page.locator('dialog[open] img.image-full');
    await full.waitFor({ timeout: 5000 });
    const loaded = await full.evaluate((el) => el.complete && el.naturalWidth === 1);
    await shot(page, '42-image-full');
    await page.locator('dialog[open]').getByRole('button', { name: 'Close' }).click();
    return explain(src === `data:image/png;base64,${PNG}` && loaded, { src: src?.slice(0, 40), loaded });
  });

  await step('composer: while Claude works the composer stays usable; a message sent then is queued, shown and removable', async () => {
    await script([{ text: 'Slow answer, held until the test says so.', hold: { gate: 'composer-slow', after_events: 6, timeout: 60 } },
      { text: 'Answer to the queued one.' }]);
    await send(page, 'Start something slow');
    await page.locator('.msg.assistant.streaming', { hasText: 'Slow' }).waitFor({ timeout: 15000 });
    const enabled = await box.isEnabled();
    await send(page, 'Queued while busy');
    const q = page.locator('.msg.user.queued', { hasText: 'Queued while busy' });
    await q.waitFor({ timeout: 5000 });
    await q.getByRole('button', { name: 'Remove this queued message' }).click();
    await q.waitFor({ state: 'detached', timeout: 5000 });
    await send(page, 'Queued and kept');
    await page.locator('.msg.user.queued', { hasText: 'Queued and kept' }).waitFor({ timeout: 5000 });
    await fake('/_fake/release', { gate: 'composer-slow' });
    await page.locator('.msg.assistant', { hasText: 'Answer to the queued one.' }).waitFor({ timeout: 30000 });
    await waitIdle(page);
    const checks = {
      enabled,
      removed: await count(page, '.msg.user .bubble', 'Queued while busy'),
      kept: await count(page, '.msg.user .bubble', 'Queued and kept'),
      queuedLeft: await count(page, '.msg.user.queued'),
      sent: JSON.stringify(lastUser(await lastRequest()).content),
    };
    return explain(enabled && checks.removed === 0 && checks.kept === 1 && checks.queuedLeft === 0
      && checks.sent.includes('Queued and kept') && !checks.sent.includes('Queued while busy'), checks);
  });

  await step('composer: a failed turn offers Retry, after a reload too; Retry sends its prompt again and Claude answers', async () => {
    await script([{ fault: { type: 'http', status: 400, message: 'e2e: this request is refused' } }, { text: 'Second time lucky.' }]);
    await send(page, 'Please fail once');
    const notice = page.locator('.notice.error', { has: page.getByRole('button', { name: 'Retry' }) });
    await notice.waitFor({ timeout: 20000 });
    // The run is over (the session shows the error).
    await page.locator('.topbar .badge.status-error, .topbar .badge.status-idle').waitFor({ timeout: 20000 });
    await shot(page, '43-retry');
    // The notice, and its Retry, come back after a reload (the error is part of the stored transcript).
    await page.reload();
    await page.locator('.msg.user .bubble', { hasText: 'Please fail once' }).waitFor({ timeout: 10000 });
    await notice.waitFor({ timeout: 10000 });
    await notice.getByRole('button', { name: 'Retry' }).click();
    await page.locator('.msg.assistant', { hasText: 'Second time lucky.' }).waitFor({ timeout: 20000 });
    await waitIdle(page);
    const c = lastUser(await lastRequest()).content;
    const texts = (Array.isArray(c) ? c : [{ type: 'text', text: c }]).filter((b) => b.type === 'text').map((b) => b.text);
    return explain(texts.filter((t) => t === 'Please fail once').length >= 1 && texts[texts.length - 1] === 'Please fail once', { texts });
  });

  await step('composer: the copy button of a code block puts the code on the clipboard; a message copies its text', async () => {
    await script([{ text: 'Run this:\n\n```sh\necho copied-ok\n```\n' }]);
    await send(page, 'Give me a command');
    const ans = page.locator('.msg.assistant', { hasText: 'Run this:' });
    await ans.locator('pre.code-block .copy-code').waitFor({ timeout: 20000 });
    await waitIdle(page);
    await ans.locator('pre.code-block .copy-code').click();
    await ans.locator('.copy-code', { hasText: 'Copied' }).waitFor({ timeout: 5000 });
    const code = await page.evaluate(() => navigator.clipboard.readText());
    await page.locator('.msg.user', { hasText: 'Give me a command' }).getByRole('button', { name: 'Copy this message' }).click();
    await page.waitForFunction(async () => (await navigator.clipboard.readText()) === 'Give me a command');
    const msg = await page.evaluate(() => navigator.clipboard.readText());
    return explain(code === 'echo copied-ok' && msg === 'Give me a command', { code, msg });
  });

  if (sid) {
    await page.evaluate(async (id) => fetch(`/api/sessions/${id}`, { method: 'DELETE', headers: { 'X-Requested-With': 'claude-web' } }), sid)
      .catch(() => {});
  }
  await page.goto(BASE + '/').catch(() => {});
  diag('composer: done');
  await ctx.close();
}
