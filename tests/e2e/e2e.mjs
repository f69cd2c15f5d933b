// Browser end-to-end tests of the web UI against the real stack and the fake
// Anthropic API (started by tests/e2e/run.sh). Prints TAP; exit 1 on failure.
//
// Environment: BASE_URL, FAKE_URL, E2E_USER, E2E_PASS, ARTIFACTS (screenshot
// directory), CHROMIUM, STATIC_DIR (for playwright-core and the bundle),
// E2E_BENCH (1: also run the benchmark).
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { queueTests } from './queue.mjs';

const env = (k, d) => process.env[k] ?? d;
const BASE = env('BASE_URL');
const FAKE = env('FAKE_URL');
const USER = env('E2E_USER', 'ann');
const PASS = env('E2E_PASS', 'ann-password-1');
const ART = env('ARTIFACTS', '/tmp');
const STATIC_DIR = env('STATIC_DIR');
const require = createRequire(join(STATIC_DIR, 'package.json'));
const { chromium } = require('playwright-core');

// ---- TAP -----------------------------------------------------------------------
let n = 0;
let failed = 0;
const t0 = Date.now();
function ok(cond, desc, diag) {
  n++;
  if (cond) console.log(`ok ${n} - ${desc}`);
  else {
    failed++;
    console.log(`not ok ${n} - ${desc}`);
    if (diag) for (const l of String(diag).split('\n')) console.log(`# ${l}`);
  }
  return !!cond;
}
/** cond, with a diagnostic printed when it is false. */
function explain(cond, detail) {
  if (!cond) diag(typeof detail === 'string' ? detail : JSON.stringify(detail));
  return !!cond;
}
function diag(msg) {
  for (const l of String(msg).split('\n')) console.log(`# ${l}`);
}
/** Runs fn; a thrown error (a timeout waiting for something) is one failed test. */
async function step(desc, fn) {
  try {
    const r = await fn();
    ok(r !== false, desc);
  } catch (e) {
    ok(false, desc, (e && e.stack) || String(e));
  }
}

// ---- the fake Anthropic API ---------------------------------------------------------
async function fake(path, body) {
  const r = await fetch(FAKE + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`fake ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}
const script = (turns) => fake('/_fake/script', { turns });

// ---- browser ------------------------------------------------------------------------
// playwright-core gives every launch a fresh temporary profile (its own
// --user-data-dir); it refuses one passed in args.
const browser = await chromium.launch({
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage',
  ],
});

const problems = []; // console errors, CSP violations, page errors, dialogs
// API answers the browser logs as errors but the tests cause on purpose.
const expectedHttp = new Set([401, 404]);
function watch(page, label) {
  page.on('console', (m) => {
    const txt = m.text();
    if (m.type() === 'error' || /Content Security Policy|Refused to/i.test(txt)) {
      // Expected API answers: 401 (the "am I signed in?" check, the expired
      // login test), 404 (the test checks a deleted session is gone).
      const st = /status of (\d+)/.exec(txt);
      if (/Failed to load resource/.test(txt) && st && expectedHttp.has(Number(st[1])) && /\/api\//.test(m.location().url || '')) return;
      problems.push(`${label} console ${m.type()}: ${txt}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`${label} page error: ${e.message}`));
  page.on('dialog', async (d) => {
    problems.push(`${label} unexpected dialog: ${d.type()} ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
}

async function newPage(opts = {}, label = 'desktop') {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 }, ...opts });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  watch(page, label);
  return { ctx, page };
}

const shot = (page, name) => page.screenshot({ path: join(ART, `${name}.png`), fullPage: false }).catch((e) => diag(`screenshot ${name}: ${e.message}`));

async function login(page) {
  await page.goto(BASE + '/');
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill(PASS);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.sidebar').waitFor();
}

async function createSession(page, title, { template, mode } = {}) {
  await page.locator('#new-session-btn').click();
  const dlg = page.locator('dialog[open]');
  await dlg.getByLabel('Title').fill(title);
  if (template) await dlg.getByLabel(/Template/).fill(template);
  if (mode) await dlg.getByRole('radio', { name: mode }).check();
  await dlg.getByRole('button', { name: 'Create session' }).click();
  await page.waitForURL(/\/sessions\/[0-9a-f]+$/);
  await page.locator('.topbar-title', { hasText: title }).waitFor();
  return page.url().split('/').pop();
}

async function send(page, text) {
  const box = page.locator('#composer-input');
  await box.fill(text);
  await box.press('Enter');
}

const transcript = (page) => page.locator('[data-testid=transcript]');
const count = (page, sel, text) => (text === undefined ? page.locator(sel) : page.locator(sel, { hasText: text })).count();
const waitIdle = (page) => page.locator('.topbar .badge.status-idle').waitFor({ timeout: 20000 });

// ---- the tests -------------------------------------------------------------------------
// Unique titles: the suite can run twice against one stack (E2E_HOLD).
const RUN = Date.now().toString(36).slice(-4);
const MAIN = `E2E main ${RUN}`;
const SECOND = `E2E second ${RUN}`;
const RENAMED = `E2E renamed ${RUN}`;
const LONG = Array.from({ length: 40 }, (_, i) => `Sentence number ${i + 1} of a long streamed answer.`).join(' ');

async function desktop() {
  const { ctx, page } = await newPage();

  // Login screen.
  await step('the login screen loads (the built UI is served under the CSP)', async () => {
    const res = await page.goto(BASE + '/');
    const csp = res.headers()['content-security-policy'] || '';
    await page.getByLabel('Username').waitFor();
    await shot(page, '01-login');
    return /script-src 'self'/.test(csp);
  });
  await step('a wrong password is explained', async () => {
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.form-error', { hasText: 'Wrong username or password' }).waitFor();
  });
  await step('log in', async () => {
    await page.getByLabel('Password').fill(PASS);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.sidebar').waitFor();
    await page.locator('.user-name', { hasText: USER }).waitFor();
  });

  // Create a session.
  let sid;
  await step('create a session (dialog with template and permission mode) → the URL names it', async () => {
    await page.locator('#new-session-btn').click();
    const dlg = page.locator('dialog[open]');
    await dlg.getByRole('radio', { name: /Ask before acting/ }).waitFor();
    await shot(page, '02-new-session');
    await dlg.getByLabel('Title').fill(MAIN);
    await dlg.getByRole('button', { name: 'Create session' }).click();
    await page.waitForURL(/\/sessions\/[0-9a-f]+$/);
    sid = page.url().split('/').pop();
    await page.locator('.session-item.current', { hasText: MAIN }).waitFor();
    return (await page.title()).includes(MAIN);
  });

  // Send a prompt: streamed text, then a bash call that needs approval.
  await script([
    {
      content: [
        { type: 'thinking', thinking: 'The user wants a file. I will use bash.', signature: 'sig-e2e-1' },
        { type: 'text', text: 'I will **create** the file with `bash`:\n\n```python\nprint("hello")\n```\n' },
        { type: 'tool_use', id: 'toolu_e2e_bash1', name: 'bash', input: { command: 'echo hello from e2e > hello.txt && echo created && echo careful >&2' } },
      ],
      delay_ms: 40,
    },
    { text: 'All done: `hello.txt` exists now.', delay_ms: 20 },
  ]);
  await step('Enter sends the prompt; it shows at once', async () => {
    await page.locator('#composer-input').fill('Please create hello.txt');
    await page.locator('#composer-input').press('Shift+Enter');
    await page.locator('#composer-input').type('(second line)');
    const two = (await page.locator('#composer-input').inputValue()) === 'Please create hello.txt\n(second line)';
    if (!explain(two, 'Shift+Enter did not add a new line')) return false;
    await page.locator('#composer-input').press('Enter');
    await page.locator('.msg.user .bubble', { hasText: 'Please create hello.txt' }).waitFor();
    return (await page.locator('#composer-input').inputValue()) === '';
  });
  await step('the answer streams in as rendered markdown', async () => {
    await page.locator('.msg.assistant.streaming').first().waitFor({ timeout: 10000 });
    await page.locator('.msg.assistant strong', { hasText: 'create' }).waitFor();
    await page.locator('.msg.assistant pre code.language-python .hljs-built_in, .msg.assistant pre code.language-python .hljs-string').first().waitFor();
  });
  await step('thinking is shown collapsed', async () => {
    const d = page.locator('details.thinking').first();
    await d.waitFor();
    return !(await d.evaluate((el) => el.open));
  });
  await step('the approval appears in the conversation; badge and tab title say the session waits', async () => {
    await page.locator('.perm').waitFor();
    await page.locator('.topbar .badge.status-waiting').waitFor();
    await page.waitForFunction(() => document.title.startsWith('⏸'));
    await page.locator('.session-item.current .badge.status-waiting').waitFor();
    await shot(page, '03-approval');
    return (await page.locator('.perm button').allTextContents()).join('|') === 'Allow once|Always allow|Deny';
  });
  await step('approve: the bash card shows command, output, stderr, exit code and duration', async () => {
    await page.getByRole('button', { name: 'Allow once' }).click();
    const card = page.locator('.tool-card.bash', { hasText: 'echo hello from e2e' });
    await card.locator('.chip', { hasText: 'exit 0' }).waitFor();
    await card.locator('.perm-outcome', { hasText: 'Allowed once' }).waitFor();
    const out = await card.locator('.output:not(.stderr) .output-text').textContent();
    const err = await card.locator('.output.stderr .output-text').textContent();
    const dur = await card.locator('.tool-meta .muted').textContent();
    return out.trim() === 'created' && err.trim() === 'careful' && /\d+(\.\d+)? (ms|s)/.test(dur);
  });
  await step('the final answer arrives and the session is idle again', async () => {
    await page.locator('.msg.assistant code', { hasText: 'hello.txt' }).waitFor();
    await waitIdle(page);
    await page.waitForFunction(() => !document.title.startsWith('⏸'));
    return (await count(page, '.stop-btn')) === 0;
  });
  await step('usage (tokens and cost) is shown', async () => {
    const u = await page.locator('.topbar .usage').textContent();
    return /tokens · \$\d/.test(u);
  });
  await shot(page, '04-chat');

  // Files panel.
  await step('the new file appears in the files panel (refreshed by file.changed)', async () => {
    if (!(await page.locator('#files-panel').isVisible())) await page.locator('.files-toggle').click();
    await page.locator('[data-testid=file-list] .file-name', { hasText: 'hello.txt' }).waitFor();
  });
  await step('view a file (highlighted viewer), with a download link', async () => {
    await page.locator('.file-open', { hasText: 'hello.txt' }).click();
    await page.locator('.viewer code', { hasText: 'hello from e2e' }).waitFor();
    const href = await page.locator('.viewer a', { hasText: 'Download' }).getAttribute('href');
    await shot(page, '05-files');
    return href.includes('download=1') && href.includes('path=hello.txt');
  });
  await step('upload by drag and drop (PUT files/content)', async () => {
    const dt = await page.evaluateHandle(() => {
      const d = new DataTransfer();
      d.items.add(new File(['dropped content\n'], 'dropped.txt', { type: 'text/plain' }));
      return d;
    });
    await page.locator('#files-panel').dispatchEvent('dragenter', { dataTransfer: dt });
    await page.locator('#files-panel').dispatchEvent('drop', { dataTransfer: dt });
    await page.locator('[data-testid=file-list] .file-name', { hasText: 'dropped.txt' }).waitFor();
  });
  await step('the archive link and "Open in VS Code" point to the right places', async () => {
    const arch = await page.locator('.files-toolbar a', { hasText: 'Download all' }).getAttribute('href');
    const code = await page.locator('.topbar .vscode-link').getAttribute('href');
    const s = await page.evaluate(async (id) => (await fetch(`/api/sessions/${id}`)).json(), sid);
    return explain(arch === `/api/sessions/${sid}/archive` && code === `/code/?folder=${encodeURIComponent(s.files_path)}`, { arch, code, files_path: s.files_path });
  });
  await step('create a folder and open it', async () => {
    await page.locator('.files-toolbar button', { hasText: 'New folder' }).click();
    const dlg = page.locator('dialog[open]');
    await dlg.getByLabel(/Name/).fill('notes');
    await dlg.getByRole('button', { name: 'Create folder' }).click();
    await page.locator('.file-row.directory .file-name', { hasText: 'notes' }).click();
    await page.locator('.crumbs .crumb', { hasText: 'notes' }).waitFor();
    await page.locator('.crumbs .crumb', { hasText: 'workspace' }).click();
    await page.locator('[data-testid=file-list] .file-name', { hasText: 'hello.txt' }).waitFor();
  });
  await step('delete a file with confirmation', async () => {
    await page.locator('.file-row', { hasText: 'dropped.txt' }).getByRole('button', { name: 'Delete dropped.txt' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Delete' }).click();
    await page.locator('[data-testid=file-list] .file-name', { hasText: 'dropped.txt' }).waitFor({ state: 'detached' });
  });
  await step('an editor call shows a unified diff', async () => {
    await script([
      {
        content: [{
          type: 'tool_use', id: 'toolu_e2e_edit1', name: 'str_replace_based_edit_tool',
          input: { command: 'str_replace', path: '/workspace/hello.txt', old_str: 'hello from e2e', new_str: 'hello again\nsecond line' },
        }],
      },
      { text: 'Edited.' },
    ]);
    await send(page, 'Edit the file');
    await page.locator('.tool-card.editor .perm').waitFor();
    await page.getByRole('button', { name: 'Always allow' }).click();
    const card = page.locator('.tool-card.editor');
    await card.locator('.chip.state-done').waitFor();
    await waitIdle(page);
    const del = await card.locator('.diff-row.del').allTextContents();
    const add = await card.locator('.diff-row.add').allTextContents();
    await card.scrollIntoViewIfNeeded();
    await shot(page, '06-diff');
    return del.length === 1 && del[0].includes('hello from e2e') && add.length === 2 && add[1].includes('second line');
  });
  await step("undo Claude's last edit restores the file", async () => {
    const read = () => page.evaluate(async (id) => (await fetch(`/api/sessions/${id}/files/content?path=hello.txt`)).text(), sid);
    const before = await read();
    await page.locator('.tool-card.editor button.revert').first().click();
    await page.locator('.toast', { hasText: 'Restored hello.txt' }).waitFor();
    const after = await read();
    return explain(before.includes('second line') && after.startsWith('hello from e2e'), { before, after });
  });

  await step('deny with a message: the card says so and Claude is told', async () => {
    await script([
      { content: [{ type: 'tool_use', id: 'toolu_e2e_deny', name: 'bash', input: { command: 'rm -rf build' } }] },
      { text: 'Understood, I will not delete it.' },
    ]);
    await send(page, 'Clean up');
    const card = page.locator('.tool-card.bash', { hasText: 'rm -rf build' });
    await card.locator('.perm').waitFor();
    await card.locator('.perm-message').fill('not now');
    await card.getByRole('button', { name: 'Deny' }).click();
    await card.locator('.perm-outcome', { hasText: 'Denied' }).waitFor();
    await page.locator('.msg.assistant', { hasText: 'I will not delete it' }).waitFor();
    await waitIdle(page);
    const reqs = await fake('/_fake/requests');
    const last = reqs.requests[reqs.requests.length - 1].body.messages;
    const result = JSON.stringify(last[last.length - 1 - 1] ?? last);
    return explain(/not now/.test(JSON.stringify(last)), `the tool_result sent to Claude does not carry the message: ${result.slice(0, 300)}`);
  });

  // Reload mid-run: the whole transcript is there and the run goes on.
  await step('reload mid-run: the full transcript so far, no duplicates; it keeps streaming across stream reconnects', async () => {
    await script([{ text: LONG, delay_ms: 60 }]);
    await send(page, 'Tell me a long story');
    await page.locator('.msg.assistant.streaming', { hasText: 'Sentence number 3 ' }).waitFor();
    await page.reload();
    let streams = 0;
    const countStreams = (req) => { if (/\/events(\?|$)/.test(req.url())) streams++; };
    page.on('request', countStreams);
    await page.locator('.msg.user .bubble', { hasText: 'Tell me a long story' }).waitFor();
    await page.locator('.msg.assistant', { hasText: 'Sentence number 1 ' }).waitFor();
    const midPrompts = await count(page, '.msg.user .bubble', 'Tell me a long story');
    const stillStreaming = await count(page, '.msg.assistant.streaming');
    await shot(page, '07-reload-mid-run');
    await page.locator('.msg.assistant', { hasText: 'Sentence number 40 of a long streamed answer.' }).waitFor({ timeout: 40000 });
    await waitIdle(page);
    page.off('request', countStreams);
    const texts = await page.locator('.msg.assistant .md').allTextContents();
    const story = texts.filter((x) => x.includes('Sentence number 1 '));
    const checks = {
      midPrompts, stillStreaming,
      prompts: await count(page, '.msg.user .bubble', 'Tell me a long story'),
      first: await count(page, '.msg.user .bubble', 'Please create hello.txt'),
      bash: await count(page, '.tool-card.bash', 'echo hello from e2e'),
      story: story.length,
      exact: story[0]?.trim() === LONG,
      // SSE_MAX_DURATION=4 ends the stream during the answer: it reconnected.
      streams,
    };
    diag(`reload mid-run: ${JSON.stringify(checks)}`);
    return explain(checks.streams >= 2 && checks.midPrompts === 1 && checks.stillStreaming >= 1 && checks.prompts === 1 && checks.first === 1
      && checks.bash === 1 && checks.story === 1 && checks.exact, checks);
  });
  await step('after the reload, the bash card (from the history) still shows its output', async () => {
    const card = page.locator('.tool-card.bash', { hasText: 'echo hello from e2e' });
    return (await card.locator('.output-text').first().textContent()).includes('created');
  });

  // Stop a run.
  await step('Stop cancels a running turn and keeps the partial answer', async () => {
    await script([{ text: LONG, delay_ms: 150 }]);
    await send(page, 'Another long one please');
    await page.locator('.msg.assistant.streaming', { hasText: 'Sentence number 2 ' }).waitFor();
    await page.locator('.topbar .stop-btn').click();
    await page.locator('.notice', { hasText: 'Stopped.' }).waitFor();
    await waitIdle(page);
    await shot(page, '08-stopped');
    const partial = await page.locator('.msg.assistant .md', { hasText: 'Sentence number 1 ' }).last().textContent();
    return partial.length < LONG.length && (await count(page, '.stop-btn')) === 0;
  });

  // A retry notice and an error in words.
  await step('a retrying API shows a notice; a failed run says what to do next', async () => {
    await script([
      // Retry-After: 4 s, long enough to see the notice even across a stream reconnect.
      { fault: { type: 'http', status: 529, retry_after: 4 }, repeat: 1 },
      { fault: { type: 'http', status: 400, message: 'prompt is too long: 250000 tokens > 200000 maximum' } },
    ]);
    await send(page, 'This will fail');
    await page.locator('.notice.warn', { hasText: 'retrying in 4 s' }).waitFor({ timeout: 15000 });
    await shot(page, '09-retrying');
    const err = page.locator('.notice.error');
    await err.waitFor({ timeout: 20000 });
    const txt = await err.textContent();
    await shot(page, '09-error');
    if ((await count(page, '.notice.warn', 'retrying in')) !== 0) return explain(false, 'the retry notice stayed after the run ended');
    return /too long/i.test(txt) && /Compact/i.test(txt);
  });

  // XSS from the model.
  await step('a markdown XSS payload from the model renders inert', async () => {
    const payload = [
      'XSS test:',
      '<img src=x onerror="window.__xss=1;alert(1)">',
      '<script>window.__xss=2;alert(2)</script>',
      '[click me](javascript:window.__xss=3)',
      '<iframe src="javascript:alert(4)"></iframe>',
      '<svg onload="window.__xss=5"><circle r="5"/></svg>',
      '<a href="javascript:alert(6)" onclick="window.__xss=6">link</a>',
      '<div style="position:fixed;inset:0;background:red">overlay</div>',
      '<form action="/api/auth/logout" method="post"><button>go</button></form>',
      'end of payload',
    ].join('\n\n');
    await script([{ text: payload }]);
    await send(page, 'Show me some HTML');
    const md = page.locator('.msg.assistant .md', { hasText: 'end of payload' });
    await md.waitFor();
    await waitIdle(page);
    // Give handlers a chance to fire.
    await page.locator('.msg.assistant .md', { hasText: 'click me' }).first().hover().catch(() => {});
    await page.locator('.msg.assistant .md a', { hasText: 'click me' }).first().click({ trial: false }).catch(() => {});
    await page.waitForTimeout(300);
    const r = await md.evaluate((el) => ({
      xss: window.__xss,
      bad: el.querySelectorAll('script, iframe, svg, form, button, object, embed, style').length,
      handlers: Array.from(el.querySelectorAll('*')).filter((e) => Array.from(e.attributes).some((a) => a.name.startsWith('on') || a.name === 'style')).length,
      jsLinks: Array.from(el.querySelectorAll('[href],[src]')).filter((e) => /javascript:/i.test(e.getAttribute('href') || e.getAttribute('src') || '')).length,
      shownAsText: el.textContent.includes('<img src=x onerror='),
    }));
    await md.scrollIntoViewIfNeeded();
    await shot(page, '10-xss-inert');
    return explain(r.xss === undefined && r.bad === 0 && r.handlers === 0 && r.jsLinks === 0 && r.shownAsText, r);
  });

  // Second session: switch, back/forward, rename, delete.
  let sid2;
  await step('create from a template with a permission mode: the template\'s files are there', async () => {
    sid2 = await createSession(page, SECOND, { template: 'starter', mode: /Accept edits/ });
    if (!(await page.locator('#files-panel').isVisible())) await page.locator('.files-toggle').click();
    await page.locator('[data-testid=file-list] .file-name', { hasText: 'README.md' }).waitFor();
    await page.locator('.file-open', { hasText: 'docs' }).click();
    await page.locator('[data-testid=file-list] .file-name', { hasText: 'notes.txt' }).waitFor();
    await page.locator('.crumb', { hasText: 'workspace' }).click();
    const s = await page.evaluate(async (id) => (await fetch(`/api/sessions/${id}`)).json(), sid2);
    return explain(s.permission_mode === 'acceptEdits' && s.template === 'starter', s);
  });
  await step('a template that does not exist is explained in the dialog', async () => {
    await page.locator('#new-session-btn').click();
    const dlg = page.locator('dialog[open]');
    await dlg.getByLabel(/Template/).fill('no-such-template');
    expectedHttp.add(400);
    await dlg.getByRole('button', { name: 'Create session' }).click();
    const msg = await dlg.locator('.form-error').textContent();
    expectedHttp.delete(400);
    await dlg.getByRole('button', { name: 'Cancel' }).click();
    return explain(/template/i.test(msg), msg);
  });
  await step('switch sessions; back and forward restore the URL and the conversation', async () => {
    await page.goto(`${BASE}/sessions/${sid}`);
    await page.locator('.msg.user .bubble', { hasText: 'Please create hello.txt' }).waitFor();
    await page.locator('.session-link', { hasText: SECOND }).click();
    await page.waitForURL(new RegExp(`/sessions/${sid2}$`));
    await page.goBack();
    await page.waitForURL(new RegExp(`/sessions/${sid}$`));
    await page.locator('.msg.user .bubble', { hasText: 'Please create hello.txt' }).waitFor();
    await page.goForward();
    await page.waitForURL(new RegExp(`/sessions/${sid2}$`));
    await page.locator('.empty-chat').waitFor();
    await page.locator('.session-link', { hasText: MAIN }).click();
    await page.waitForURL(new RegExp(`/sessions/${sid}$`));
    return true;
  });
  await step('rename a session', async () => {
    await page.getByRole('button', { name: `Rename ${SECOND}` }).click();
    const input = page.locator('.rename input');
    await input.fill(RENAMED);
    await input.press('Enter');
    await page.locator('.session-title', { hasText: RENAMED }).waitFor();
    await page.reload();
    await page.locator('.session-title', { hasText: RENAMED }).waitFor();
  });
  await step('delete a session after confirming', async () => {
    await page.getByRole('button', { name: `Delete ${RENAMED}` }).click();
    const dlg = page.locator('dialog[open]');
    await dlg.locator('h2', { hasText: 'Delete this session?' }).waitFor();
    await shot(page, '11-delete-confirm');
    await dlg.getByRole('button', { name: 'Delete session' }).click();
    await page.locator('.session-title', { hasText: RENAMED }).waitFor({ state: 'detached' });
    const st = await page.evaluate(async (id) => (await fetch(`/api/sessions/${id}`)).status, sid2);
    return st === 404;
  });
  await step('keyboard: Tab reaches the message box and Enter sends from it', async () => {
    await page.locator('#new-session-btn').focus();
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement?.id === 'composer-input')) return true;
    }
    return false;
  });

  // An expired login: back to the login screen, the draft survives.
  await step('an expired login returns to the login screen and keeps the draft', async () => {
    await page.locator('#composer-input').fill('my unsent draft');
    await ctx.clearCookies();
    await page.locator('#composer-input').press('Enter');
    await page.locator('.login-card .notice-inline', { hasText: 'expired' }).waitFor();
    await shot(page, '12-expired');
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill(PASS);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#composer-input').waitFor();
    return (await page.locator('#composer-input').inputValue()) === 'my unsent draft';
  });

  // Log out.
  await step('log out: the login screen, and the token no longer works', async () => {
    await page.locator('#composer-input').fill('');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByLabel('Username').waitFor();
    const st = await page.evaluate(async () => (await fetch('/api/auth/me')).status);
    return st === 401;
  });
  await ctx.close();
}

async function phone() {
  const { ctx, page } = await newPage({
    // Also the dark theme (prefers-color-scheme: dark).
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark',
    userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126 Mobile Safari/537.36',
  }, 'phone');
  await step('phone: log in and see the newest session full-screen', async () => {
    await login(page);
    await page.waitForURL(/\/sessions\//);
    const box = await page.locator('.chat').boundingBox();
    const nav = await page.locator('.sidebar').boundingBox();
    return box.width >= 380 && (nav.x + nav.width) <= 1;
  });
  await step('phone: the session list opens as a drawer', async () => {
    await page.getByRole('button', { name: 'Open the session list' }).click();
    await page.locator('.shell.nav-open').waitFor();
    await page.waitForTimeout(300);
    await shot(page, '13-phone-nav');
    await page.locator('.session-link', { hasText: MAIN }).click();
    await page.locator('.shell:not(.nav-open)').waitFor();
  });
  await step('phone (dark theme): send a prompt and read the answer', async () => {
    await script([{ text: 'A short answer for a **small** screen.' }]);
    await send(page, 'Hello from the phone');
    await page.locator('.msg.assistant strong', { hasText: 'small' }).waitFor();
    await waitIdle(page);
    await shot(page, '14-phone-chat');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    return explain(!overflow && dark === 'rgb(27, 26, 25)', { overflow, background: dark });
  });
  await step('phone: the files panel opens full-width', async () => {
    await page.locator('.files-toggle').click();
    await page.locator('[data-testid=file-list] .file-name', { hasText: 'hello.txt' }).waitFor();
    const b = await page.locator('#files-panel').boundingBox();
    await shot(page, '15-phone-files');
    await page.getByRole('button', { name: 'Close the files panel' }).click();
    return b.width >= 385;
  });
  await ctx.close();
}

/** The bundle's gzip size and the time to first render of a 500-message transcript. */
async function bench() {
  const dist = join(STATIC_DIR, 'dist', 'assets');
  let total = 0;
  for (const f of readdirSync(dist)) {
    const gz = gzipSync(readFileSync(join(dist, f)), { level: 9 }).length;
    total += gz;
    diag(`bench: ${f} ${gz} bytes gzip`);
  }
  diag(`bench: bundle total ${total} bytes gzip (${(total / 1024).toFixed(1)} KiB)`);
  ok(total < 200 * 1024, `bundle is small (${(total / 1024).toFixed(1)} KiB gzip < 200 KiB)`);

  const messages = [];
  // 500 messages: 200 question/answer pairs, every 4th answer with a command and a follow-up.
  for (let i = 0; i < 200; i++) {
    messages.push({ role: 'user', content: `Question ${i}: how do I do thing ${i}?` });
    const blocks = [{ type: 'text', text: `Answer ${i}. Use **this** approach:\n\n\`\`\`js\nconst x${i} = ${i};\nconsole.log(x${i});\n\`\`\`\n\n- point one\n- point two` }];
    if (i % 4 === 0) blocks.push({ type: 'tool_use', id: `toolu_b${i}`, name: 'bash', input: { command: `ls -la dir${i}` } });
    messages.push({ role: 'assistant', content: blocks });
    if (i % 4 === 0) {
      messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_b${i}`, content: 'total 0\n' }] });
      messages.push({ role: 'assistant', content: [{ type: 'text', text: `Listed dir${i}.` }] });
    }
  }
  const { ctx, page } = await newPage({}, 'bench');
  await login(page);
  const sid = await createSession(page, 'Bench 500');
  await page.route(`**/api/sessions/${sid}/messages`, (route) => route.fulfill({
    status: 200, contentType: 'application/json', body: JSON.stringify({ session_id: sid, messages }),
  }));
  const runs = [];
  for (let i = 0; i < 3; i++) {
    await page.goto(`${BASE}/sessions/${sid}`);
    await page.waitForFunction(() => document.querySelectorAll('.msg.user').length >= 200, null, { timeout: 30000 });
    const t = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const hist = performance.getEntriesByType('resource').find((r) => r.name.endsWith('/messages'));
      return { total: performance.now(), afterHistory: hist ? performance.now() - hist.responseEnd : null, dcl: nav.domContentLoadedEventEnd };
    });
    runs.push(t);
  }
  const nMsgs = messages.length;
  const best = runs.reduce((a, b) => (a.total < b.total ? a : b));
  diag(`bench: ${nMsgs}-message transcript: first render ${best.total.toFixed(0)} ms after navigation start, ${best.afterHistory?.toFixed(0)} ms after the history arrived (best of ${runs.length}: ${runs.map((r) => r.total.toFixed(0)).join(', ')} ms)`);
  ok(best.total < 5000, `a ${nMsgs}-message transcript renders in under 5 s (${best.total.toFixed(0)} ms)`);
  await shot(page, '16-bench-500');
  await page.unroute(`**/api/sessions/${sid}/messages`);
  await page.evaluate(async (id) => fetch(`/api/sessions/${id}`, { method: 'DELETE', headers: { 'X-Requested-With': 'claude-web' } }), sid);
  await ctx.close();
}

try {
  await fake('/_fake/reset', {});
  // E2E_ONLY=queue,phone,...: only those parts (all by default).
  const only = env('E2E_ONLY', '') ? new Set(env('E2E_ONLY').split(',')) : null;
  const part = (name) => only === null || only.has(name);
  if (part('desktop')) await desktop();
  if (part('phone')) await phone();
  if (part('queue')) {
    await queueTests({
      BASE, RUN, LONG, step, explain, diag, newPage, login, createSession, send, script, fake, shot, count, waitIdle,
    });
  }
  // Feature parts: tests/e2e/parts/<name>.mjs, each `export default async function (h)`
  // with the same helpers as queue.mjs (plus ok and page helpers); E2E_ONLY=<name> selects one.
  const partsDir = new URL('./parts/', import.meta.url);
  let partFiles = [];
  try { partFiles = readdirSync(partsDir).filter((f) => f.endsWith('.mjs')).sort(); } catch { partFiles = []; }
  for (const f of partFiles) {
    const name = f.replace(/\.mjs$/, '');
    if (!part(name)) continue;
    const mod = await import(new URL(f, partsDir).href);
    try {
      await mod.default({
        BASE, RUN, LONG, ok, step, explain, diag, newPage, login, createSession, send, script, fake, shot, count, waitIdle,
      });
    } catch (e) {
      ok(false, `e2e part ${name} completed`, (e && e.stack) || String(e));
    }
  }
  if (part('bench') && env('E2E_BENCH', '1') === '1') await bench();
} catch (e) {
  ok(false, 'the e2e run completed', (e && e.stack) || String(e));
} finally {
  ok(problems.length === 0, 'no console errors, CSP violations, page errors or dialogs', problems.join('\n'));
  await browser.close().catch(() => {});
}
diag(`e2e: ${n - failed}/${n} passed in ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${ART}`);
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
