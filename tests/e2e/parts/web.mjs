// Browser end-to-end tests of the web (issue 13): the session's network
// policy selector (off / allowlist with domains / on; a bad domain is
// explained, not saved), a web search by Claude drawn as a card with its
// results and the answer's cited sources, live and after a reload, and the
// exact tools the request declared.

export default async function web(h) {
  const { step, explain, newPage, login, createSession, send, script, fake, shot, waitIdle } = h;
  const { ctx, page } = await newPage({}, 'web');
  let sid;
  const btn = page.locator('.net-policy-btn');
  const panel = page.locator('#net-policy-panel');
  const getSession = () => page.evaluate(async (id) => (await fetch(`/api/sessions/${id}`)).json(), sid);

  await step('web: a new session shows its network policy, off', async () => {
    await login(page);
    sid = await createSession(page, `E2E web ${h.RUN}`);
    await btn.waitFor({ timeout: 20000 });
    const label = await btn.innerText();
    return explain(/Web: off/.test(label), { label });
  });

  await step('web: a bad domain in the allowlist is explained and nothing changes', async () => {
    await btn.click();
    await panel.waitFor();
    await panel.locator('input[value=allowlist]').check();
    await panel.locator('textarea').fill('https://docs.example.com/path');
    await panel.locator('button[type=submit]').click();
    const alert = panel.locator('[role=alert]');
    await alert.waitFor({ timeout: 10000 });
    const msg = await alert.innerText();
    const s = await getSession();
    return explain(/not a hostname/.test(msg) && s.network_policy === 'off', { msg, policy: s.network_policy });
  });

  await step('web: the selector switches the session to an allowlist of domains', async () => {
    await panel.locator('textarea').fill('Docs.Example.com\nexample.org');
    await panel.locator('button[type=submit]').click();
    await panel.waitFor({ state: 'detached', timeout: 10000 });
    await btn.filter({ hasText: 'Web: allowlist' }).waitFor({ timeout: 10000 });
    const s = await getSession();
    await shot(page, '70-web-policy');
    return explain(s.network_policy === 'allowlist' && JSON.stringify(s.allowed_domains) === '["docs.example.com","example.org"]',
      { policy: s.network_policy, domains: s.allowed_domains });
  });

  const enc = 'EncE2E/+==';
  await step('web: a search by Claude is a card with its results, the answer lists its sources', async () => {
    await fake('/_fake/reset', {});
    await script([{
      content: [
        { type: 'text', text: 'Let me look that up.' },
        { type: 'server_tool_use', id: 'srvtoolu_e2e_search', name: 'web_search', input: { query: 'claude-web network policy' } },
        { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_e2e_search', content: [
          { type: 'web_search_result', url: 'https://docs.example.com/network', title: 'Network policy guide', encrypted_content: enc, page_age: '2 days ago' },
          { type: 'web_search_result', url: 'https://example.org/sandbox', title: 'Sandbox notes', encrypted_content: enc },
        ] },
        { type: 'text', text: 'Sessions choose off, an allowlist or on.', citations: [
          { type: 'web_search_result_location', url: 'https://docs.example.com/network', title: 'Network policy guide',
            encrypted_index: 'Ix', cited_text: 'a session chooses off, allowlist or on' },
        ] },
      ],
      usage: { server_tool_use: { web_search_requests: 1 } },
    }]);
    await send(page, 'how does the network policy work?');
    const card = page.locator('.tool-card.web');
    await card.waitFor({ timeout: 20000 });
    await card.locator('.web-result').first().waitFor({ timeout: 20000 });
    await page.locator('.citations .citation').first().waitFor({ timeout: 20000 });
    await waitIdle(page);
    const title = await card.locator('.tool-title').innerText();
    const results = await card.locator('.web-result a').allInnerTexts();
    const hrefs = await card.locator('.web-result a').evaluateAll((as) => as.map((a) => [a.getAttribute('href'), a.getAttribute('target'), a.getAttribute('rel')]));
    const cite = await page.locator('.citations .citation a').first().innerText();
    const citeHref = await page.locator('.citations .citation a').first().getAttribute('href');
    await shot(page, '71-web-search-card');
    const r = await fake('/_fake/requests');
    const tools = r.requests[0].body.tools.filter((t) => /^web_/.test(t.type || ''));
    return explain(/Searched the web/.test(title) && /claude-web network policy/.test(title)
      && JSON.stringify(results) === '["Network policy guide","Sandbox notes"]'
      && hrefs[0][0] === 'https://docs.example.com/network' && hrefs[0][1] === '_blank' && /noopener/.test(hrefs[0][2])
      && cite === 'Network policy guide' && citeHref === 'https://docs.example.com/network'
      && tools.length === 2 && tools.every((t) => JSON.stringify(t.allowed_domains) === '["docs.example.com","example.org"]'),
    { title, results, hrefs, cite, citeHref, tools });
  });

  await step('web: after a reload the card and the sources are drawn from the history', async () => {
    await page.reload();
    const card = page.locator('.tool-card.web');
    await card.locator('.web-result').first().waitFor({ timeout: 20000 });
    const n = await card.locator('.web-result').count();
    const cite = await page.locator('.citations .citation').count();
    const state = await card.locator('.chip').innerText();
    await shot(page, '72-web-search-reloaded');
    return explain(n === 2 && cite === 1 && state === 'Done', { n, cite, state });
  });

  await step('web: the selector turns the web off again', async () => {
    await btn.click();
    await panel.locator('input[value=off]').check();
    await panel.locator('button[type=submit]').click();
    await btn.filter({ hasText: 'Web: off' }).waitFor({ timeout: 10000 });
    const s = await getSession();
    return explain(s.network_policy === 'off', { policy: s.network_policy });
  });

  await step('web: on a phone the policy panel fits the screen', async () => {
    const phone = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }, 'web-phone');
    await login(phone.page);
    await phone.page.goto(`${h.BASE}/sessions/${sid}`);
    const pbtn = phone.page.locator('.net-policy-btn');
    await pbtn.waitFor({ timeout: 20000 });
    await pbtn.click();
    const box = await phone.page.locator('#net-policy-panel').boundingBox();
    await shot(phone.page, '73-web-policy-phone');
    await phone.ctx.close();
    return explain(box && box.x >= 0 && box.x + box.width <= 390 && box.y >= 0, { box });
  });

  await page.evaluate(async (id) => fetch(`/api/sessions/${id}`, { method: 'DELETE', headers: { 'X-Requested-With': 'claude-web' } }), sid);
  await ctx.close();
}
