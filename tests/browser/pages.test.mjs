// Browser tests: the guest check-in page and the manager console, in
// headless Chromium on 127.0.0.1. Run by crates/server/tests/browser.rs,
// which starts the service and passes CC_BASE, CC_TOKEN and SCREENSHOT_DIR.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { base, token, shots, api, launch, signIn } from './support.mjs';

let browser;

before(async () => {
  browser = await launch();
  await api('POST', '/api/properties', { id: '4b', name: 'Unit 4B – Lakeview' });
});
after(async () => { if (browser) await browser.close(); });

async function newHold(extra = {}) {
  const r = await api('POST', '/api/holds', { amount: 25000, description: 'Incidentals', property_id: '4b', customer_email: 'guest@example.com', ...extra });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}
async function page(width = 390) {
  const ctx = await browser.newContext({ viewport: { width, height: 900 } });
  return ctx.newPage();
}
test('a guest authorizes with 4242', async () => {
  const h = await newHold();
  const p = await page();
  await p.goto(h.checkin_url);
  await assert.doesNotReject(p.getByText('Authorization hold, not a charge.').waitFor());
  assert.match(await p.locator('#amount').innerText(), /\$250\.00/);
  assert.match(await p.locator('#disclosure').innerText(), /This is not a charge/);
  await p.screenshot({ path: `${shots}/checkin.png`, fullPage: true });
  await p.getByLabel('Card number').fill('4242 4242 4242 4242');
  await p.getByRole('button', { name: /Authorize/ }).click();
  await p.locator('#done').waitFor({ state: 'visible' });
  assert.equal((await api('GET', `/api/holds/${h.id}`)).body.status, 'requires_capture');
  await p.screenshot({ path: `${shots}/checkin-authorized.png`, fullPage: true });
});

test('a guest sees a decline in plain words, then succeeds with another card', async () => {
  const h = await newHold();
  const p = await page();
  await p.goto(h.checkin_url);
  await p.getByLabel('Card number').fill('4000000000000002');
  await p.getByRole('button', { name: /Authorize/ }).click();
  const msg = p.locator('#message');
  await msg.waitFor({ state: 'visible' });
  assert.match(await msg.innerText(), /declined this card/);
  await p.screenshot({ path: `${shots}/checkin-declined.png`, fullPage: true });
  await p.getByLabel('Card number').fill('4000000000009995');
  await p.getByRole('button', { name: /Authorize/ }).click();
  await p.getByText('does not have enough available funds').waitFor();
  await p.getByLabel('Card number').fill('5555 5555 5555 4444');
  await p.getByRole('button', { name: /Authorize/ }).click();
  await p.locator('#done').waitFor({ state: 'visible' });
  assert.equal((await api('GET', `/api/holds/${h.id}`)).body.status, 'requires_capture');
});

test('a 3-D Secure card shows the challenge, and completing it authorizes', async () => {
  const h = await newHold();
  const p = await page();
  await p.goto(h.checkin_url);
  await p.getByLabel('Card number').fill('4000 0025 0000 3155');
  await p.getByRole('button', { name: /Authorize/ }).click();
  await p.locator('#challenge').waitFor({ state: 'visible' });
  await p.screenshot({ path: `${shots}/checkin-3ds.png`, fullPage: true });
  await p.getByRole('button', { name: 'Complete authentication' }).click();
  await p.locator('#done').waitFor({ state: 'visible' });
  assert.equal((await api('GET', `/api/holds/${h.id}`)).body.status, 'requires_capture');
});

test('yen amounts have no decimals, and the page fits 375 px and works by keyboard', async () => {
  const h = await newHold({ amount: 2500, currency: 'jpy' });
  const p = await page(375);
  await p.goto(h.checkin_url);
  assert.equal(await p.locator('#amount').innerText(), '¥2,500');
  const width = await p.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `no horizontal scroll at 375 px (${width})`);
  for (let i = 0; i < 10; i++) {
    await p.keyboard.press('Tab');
    if (await p.evaluate(() => document.activeElement && document.activeElement.id) === 'number') break;
  }
  assert.equal(await p.evaluate(() => document.activeElement.id), 'number', 'the card field is reachable by keyboard');
  await p.keyboard.type('4242424242424242');
  await p.keyboard.press('Enter');
  await p.locator('#done').waitFor({ state: 'visible' });
});

test('the console rejects a wrong token', async () => {
  const p = await page();
  await p.goto(base + '/console');
  await p.getByLabel('API token').fill('cc_not_a_real_token');
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('alert').waitFor();
  assert.match(await p.getByRole('alert').innerText(), /not valid/);
  await p.screenshot({ path: `${shots}/console-login-error.png`, fullPage: true });
  const r = await fetch(base + '/console/holds', { redirect: 'manual' });
  assert.equal(r.status, 303, 'no session, no console');
});

test('a manager captures two damage lines and the timeline shows them', async () => {
  const h = await newHold({ payment_method: 'pm_card_visa', confirm: true });
  const p = await page(1100);
  await signIn(p);
  await p.screenshot({ path: `${shots}/console-holds.png`, fullPage: true });
  await p.getByRole('link', { name: h.id }).click();
  await p.getByLabel('Description').fill('Broken lamp');
  await p.getByLabel('Amount (USD)').fill('50.00');
  await p.getByLabel('Evidence link').fill('https://evidence.example/lamp.jpg');
  await p.getByRole('button', { name: 'Add line' }).click();
  await p.locator('#desc-1').fill('Carpet cleaning');
  await p.locator('#amount-1').fill('25');
  assert.equal(await p.locator('#total').innerText(), '$75.00');
  await p.getByRole('button', { name: 'Capture' }).click();
  await p.getByRole('status').waitFor();
  assert.match(await p.getByRole('status').innerText(), /Captured \$75\.00/);
  const timeline = await p.locator('#timeline').innerText();
  assert.match(timeline, /Broken lamp: \$50\.00/);
  assert.match(timeline, /Carpet cleaning: \$25\.00/);
  await p.screenshot({ path: `${shots}/console-hold.png`, fullPage: true });
  const after = (await api('GET', `/api/holds/${h.id}`)).body;
  assert.equal(after.amount_captured, 7500);
});

test('a manager sees the API error when a capture is too large', async () => {
  const h = await newHold({ amount: 5000, payment_method: 'pm_card_visa', confirm: true });
  const p = await page(1100);
  await signIn(p);
  await p.goto(`${base}/console/holds/${h.id}`);
  await p.getByLabel('Description').fill('Everything');
  await p.getByLabel('Amount (USD)').fill('60.00');
  await p.getByRole('button', { name: 'Capture' }).click();
  await p.getByRole('alert').waitFor();
  assert.match(await p.getByRole('alert').innerText(), /exceeds the capturable amount 5000/);
});

test('a manager releases a hold with a reason', async () => {
  const h = await newHold({ payment_method: 'pm_card_visa', confirm: true });
  const p = await page(1100);
  await signIn(p);
  await p.goto(`${base}/console/holds/${h.id}`);
  await p.getByLabel('Reason').fill('Guest left the unit spotless');
  await p.getByRole('button', { name: 'Release hold' }).click();
  await p.getByRole('status').waitFor();
  assert.equal(await p.locator('#hold-status').innerText(), 'canceled');
  assert.match(await p.locator('#timeline').innerText(), /Guest left the unit spotless/);
  assert.equal((await api('GET', `/api/holds/${h.id}`)).body.status, 'canceled');
});
