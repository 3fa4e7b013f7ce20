// Hostile values and console sessions in a real browser. Every field a page
// renders gets script-shaped text; dangerous link schemes are refused at the
// API; then the pages are opened in Chromium and nothing may run, open a
// dialog or reach another host. A cross-site sign-in form must not replace a
// manager's session, and signing out must end it for good.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { base, token, api, launch, signIn } from './support.mjs';
import http from 'node:http';

let browser;

const EVIL = `"><img src=x onerror="window.__pwned=1;alert(1)"><script>window.__pwned=2;alert(2)</script><svg onload=alert(3)>`;

before(async () => {
  browser = await launch();
});
after(async () => { if (browser) await browser.close(); });


/// A page that records what must never happen.
async function watched() {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const p = await ctx.newPage();
  const seen = { dialogs: [], outside: [] };
  p.on('dialog', (d) => { seen.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  p.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) seen.outside.push(r.url()); });
  return { ctx, p, seen };
}

test('script-shaped values in every rendered field stay text', async () => {
  assert.equal((await api('POST', '/api/properties', { id: 'evil', name: 'Villa ' + EVIL.slice(0, 150) })).status, 201);
  const created = await api('POST', '/api/holds', {
    amount: 25000, description: 'Desc ' + EVIL, property_id: 'evil', customer_email: 'guest@example.com',
    metadata: { note: EVIL }, payment_method: 'pm_card_visa', confirm: true,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id;
  // Dangerous schemes, in several spellings, never get stored.
  for (const url of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', ' javascript:alert(1)', 'java\tscript:alert(1)',
    'data:text/html,<script>alert(1)</script>', 'vbscript:msgbox(1)', '//evil.example/x', 'https:/\\evil']) {
    const r = await api('POST', `/api/holds/${id}/capture`, { amount_to_capture: 100, lines: [{ amount: 100, description: 'x', evidence_urls: [url] }] });
    assert.equal(r.status, 400, `${JSON.stringify(url)} was accepted`);
  }
  const cap = await api('POST', `/api/holds/${id}/capture`, {
    amount_to_capture: 100, reason: 'Reason ' + EVIL,
    lines: [{ amount: 100, description: 'Line ' + EVIL, evidence_urls: ['https://evidence.invalid/a"onmouseover="alert(4)'] }],
  });
  assert.equal(cap.status, 200, JSON.stringify(cap.body));
  const b = await api('POST', '/api/bookings', { id: 'bk-evil', property_id: 'evil', guest_name: 'Guest ' + EVIL.slice(0, 150), check_in: '2026-12-01', check_out: '2026-12-03' });
  assert.equal(b.status, 201, JSON.stringify(b.body));
  const other = await api('POST', '/api/holds', { amount: 25000, description: 'Checkin ' + EVIL, property_id: 'evil' });

  const { p, seen } = await watched();
  await p.goto(other.body.checkin_url);
  await signIn(p);
  for (const path of ['/console/holds', `/console/holds/${id}`, '/console/bookings', '/console/notifications', '/docs']) {
    await p.goto(base + path);
    await p.mouse.move(200, 300);
    for (const a of await p.$$('a')) await a.hover().catch(() => {});
    const hrefs = await p.$$eval('a', (as) => as.map((a) => a.getAttribute('href') || ''));
    for (const href of hrefs) assert.ok(!/^\s*(javascript|data|vbscript):/i.test(href), `${path}: ${href}`);
    assert.equal(await p.evaluate(() => window.__pwned), undefined, `script ran on ${path}`);
  }
  await p.goto(`${base}/console/holds/${id}`);
  assert.match(await p.locator('#timeline').innerText(), /Line "><img src=x/, 'the text is shown as text');
  assert.deepEqual(seen.dialogs, [], 'no dialog opened');
  assert.deepEqual(seen.outside, [], 'no request left for another host');
});

test('a cross-site sign-in form cannot replace a signed-in manager\'s session', async () => {
  const { ctx, p } = await watched();
  await signIn(p);
  const before = (await ctx.cookies()).find((c) => c.name === 'cc_session').value;
  // The attacker's page on another site posts its own token to our sign-in.
  const attacker = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(`<form id="f" method="post" action="${base}/console/login"><input name="token" value="cc_attackers_token"></form><script>document.getElementById('f').submit()</script>`);
  });
  await new Promise((r) => attacker.listen(0, 'localhost', r));
  const evil = `http://localhost:${attacker.address().port}/`;
  try {
    const resp = p.waitForResponse((r) => r.url().endsWith('/console/login'));
    await p.goto(evil);
    assert.equal((await resp).status(), 403);
  } finally {
    attacker.close();
  }
  const after = (await ctx.cookies()).find((c) => c.name === 'cc_session');
  assert.equal(after && after.value, before, 'the session cookie was not replaced');
  await p.goto(base + '/console/holds');
  assert.match(p.url(), /\/console\/holds$/, 'still signed in as before');
});

test('signing out ends the session even for a copy of its cookie', async () => {
  const { ctx, p } = await watched();
  await signIn(p);
  const cookie = (await ctx.cookies()).find((c) => c.name === 'cc_session');
  await p.getByRole('button', { name: /Sign out/ }).click();
  await p.waitForURL(/\/console$/);
  await ctx.addCookies([cookie]);
  await p.goto(base + '/console/holds');
  assert.match(p.url(), /\/console$/, 'the copied cookie no longer opens the console');
});
