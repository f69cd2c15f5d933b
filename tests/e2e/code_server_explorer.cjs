// tests/e2e/code_server_explorer.cjs: opens VS Code (code-server behind
// nginx at /code/) in headless Chromium, logged in with a cw_token cookie, on
// a folder, and waits until a file shows up in the explorer. Run by
// tests/integration/t_code_server.sh; playwright-core comes from NODE_PATH
// (CommonJS on purpose: ESM imports ignore NODE_PATH).
//
// node code_server_explorer.cjs BASE_URL TOKEN FOLDER FILE_NAME SCREENSHOT
//
// Prints one JSON line: {"ok", "found", "opened", "title", "websockets", "ws_frames",
// "csp_violations", "console_errors", "external_requests", "failed",
// "elapsed_ms", "error"?} and exits 0 when FILE_NAME was listed.
// Environment: CHROMIUM (default /usr/bin/chromium), E2E_TIMEOUT_MS (90000),
// E2E_EXPECT_TEXT: also open the file and wait for this text in the editor
// ("opened": true).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, token, folder, fileName, shot] = process.argv.slice(2);
if (!shot) {
  console.error('usage: code_server_explorer.cjs BASE_URL TOKEN FOLDER FILE_NAME SCREENSHOT');
  process.exit(2);
}
const timeout = Number(process.env.E2E_TIMEOUT_MS || 90000);
const origin = new URL(base).origin;
const t0 = Date.now();
const out = {
  ok: false, found: false, opened: false, title: '', websockets: [], ws_frames: 0,
  csp_violations: [], console_errors: [], external_requests: [], failed: [],
};

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cw-chromium-'));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      ignoreHTTPSErrors: true,
      viewport: { width: 1400, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
        '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync',
        // The test certificate is self-signed: ignoreHTTPSErrors covers page
        // loads but not service-worker scripts, which VS Code's webviews need.
        '--ignore-certificate-errors'],
    });
    await ctx.addCookies([{
      name: 'cw_token', value: token, url: origin,
      httpOnly: true, secure: true, sameSite: 'Strict',
    }]);
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('console', (m) => {
      const t = m.text();
      if (/Content Security Policy/i.test(t)) out.csp_violations.push(t.slice(0, 300));
      else if (m.type() === 'error') out.console_errors.push(t.slice(0, 300));
    });
    page.on('request', (r) => {
      const u = r.url();
      if (/^https?:/.test(u) && new URL(u).origin !== origin) out.external_requests.push(u.slice(0, 200));
    });
    page.on('response', (r) => {
      if (r.status() >= 400) out.failed.push(`${r.status()} ${r.url().slice(origin.length, origin.length + 150)}`);
    });
    page.on('requestfailed', (r) => {
      const u = r.url();
      if (new URL(u).origin === origin) out.failed.push(`${u.slice(origin.length, origin.length + 150)}: ${r.failure() && r.failure().errorText}`);
    });
    page.on('websocket', (ws) => {
      out.websockets.push(ws.url().replace(/\?.*/, ''));
      ws.on('framereceived', () => { out.ws_frames++; });
    });

    const url = `${origin}/code/?folder=${encodeURIComponent(folder)}`;
    const resp = await page.goto(url, { waitUntil: 'domcontentloaded', timeout });
    out.status = resp ? resp.status() : 0;
    // The explorer lists the folder's children as rows of the tree; wait
    // until one of them is FILE_NAME.
    const row = page.locator('.explorer-folders-view .monaco-list-row .label-name', { hasText: fileName });
    await row.first().waitFor({ state: 'visible', timeout });
    out.found = true;
    // Open it: its text in the editor proves the file was read over the
    // workbench's WebSocket, not just listed.
    if (process.env.E2E_EXPECT_TEXT) {
      await row.first().click();
      await page.locator('.monaco-editor .view-lines', { hasText: process.env.E2E_EXPECT_TEXT })
        .first().waitFor({ state: 'visible', timeout: 30000 });
      out.opened = true;
    }
    out.title = await page.title();
    await page.waitForTimeout(500);
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot });
    out.ok = true;
  } catch (e) {
    out.error = String(e && e.message || e).split('\n')[0].slice(0, 400);
    try {
      const p = ctx && ctx.pages()[0];
      if (p) {
        fs.mkdirSync(path.dirname(shot), { recursive: true });
        await p.screenshot({ path: shot });
      }
    } catch (e2) { /* no screenshot */ }
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
  out.elapsed_ms = Date.now() - t0;
  console.log(JSON.stringify(out));
  process.exit(out.ok ? 0 : 1);
})();
