// The check-in page tells the hold's present truth in every state, at phone
// and desktop widths, and money on every page follows the currency's
// exponent (USD 2, JPY 0, KWD 3), including the console's running total.
// Run by crates/server/tests/browser.rs with CC_BASE, CC_TOKEN, SCREENSHOT_DIR.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { base, token, shots, api, launch, signIn } from './support.mjs';

let browser;

before(async () => {
  browser = await launch();
});
after(async () => { if (browser) await browser.close(); });

async function newHold(extra = {}) {
  const r = await api('POST', '/api/holds', { amount: 25000, description: 'Incidentals', customer_email: 'guest@example.com', ...extra });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}
async function page(width) {
  const ctx = await browser.newContext({ viewport: { width, height: 900 } });
  const p = await ctx.newPage();
  p.on('dialog', () => assert.fail('no script of anyone else runs on the page'));
  return p;
}
// Opens the page at both widths, checks it, and saves both screenshots.
async function atBothWidths(url, name, check) {
  for (const width of [375, 1280]) {
    const p = await page(width);
    await p.goto(url);
    await check(p);
    const scroll = await p.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scroll <= width, `${name} fits ${width} px (${scroll})`);
    await p.screenshot({ path: `${shots}/checkin-state-${name}-${width}.png`, fullPage: true });
    await p.context().close();
  }
}
const text = (p) => p.locator('#checkin').innerText();

test('a hold waiting for its card shows the form and what will happen', async () => {
  const h = await newHold();
  await atBothWidths(h.checkin_url, 'pay', async (p) => {
    assert.equal(await p.locator('#headline').innerText(), 'Authorize a hold of $250.00');
    assert.match(await p.locator('#disclosure').innerText(), /temporary authorization hold of \$250\.00 will be placed/);
    assert.ok(await p.getByLabel('Card number').isVisible());
  });
});

test('a hold waiting for 3-D Secure shows the challenge again after a reload', async () => {
  const h = await newHold({ payment_method: 'pm_card_threeDSecure2Required', confirm: true });
  assert.equal(h.status, 'requires_action');
  await atBothWidths(h.checkin_url, 'challenge', async (p) => {
    assert.ok(await p.locator('#challenge').isVisible(), 'the bank step, not the card form');
    assert.equal(await p.locator('#card-form').isVisible(), false);
  });
  const p = await page(375);
  await p.goto(h.checkin_url);
  await p.getByRole('button', { name: 'Fail authentication' }).click();
  await p.getByText('Your bank could not confirm it was you').waitFor();
  assert.ok(await p.getByLabel('Card number').isVisible(), 'another card can be tried');
  await p.getByLabel('Card number').fill('4242 4242 4242 4242');
  await p.getByRole('button', { name: /Authorize/ }).click();
  await p.locator('#done').waitFor({ state: 'visible' });
  assert.equal((await api('GET', `/api/holds/${h.id}`)).body.status, 'requires_capture');
});

test('authorized, captured, released and expired holds each say what happened, in words and figures', async () => {
  const live = await newHold({ payment_method: 'pm_card_visa', confirm: true });
  await atBothWidths(live.checkin_url, 'authorized', async (p) => {
    const t = await text(p);
    assert.match(t, /Your card is authorized for \$250\.00/);
    assert.match(t, /This hold ends by [A-Z][a-z]{2} \d{1,2}, \d{4}/);
    assert.equal(await p.locator('#card-form').count(), 0);
  });

  const cap = await newHold({ payment_method: 'pm_card_visa', confirm: true });
  assert.equal((await api('POST', `/api/holds/${cap.id}/capture`, { amount_to_capture: 7500 })).status, 200);
  await atBothWidths(cap.checkin_url, 'captured', async (p) => {
    const t = await text(p);
    assert.match(t, /\$75\.00 charged, \$175\.00 released/);
    assert.match(t, /\$75\.00 was charged to your card on [A-Z][a-z]{2} \d{1,2}, \d{4}/);
    assert.match(t, /The rest of the hold, \$175\.00, was released on/);
    assert.doesNotMatch(t, /will be placed|ends by|Authorize/, 'no promise made before the fact');
  });

  const rel = await newHold({ payment_method: 'pm_card_visa', confirm: true });
  const reason = '<img src=x onerror=alert(1)> Guest left the unit spotless';
  assert.equal((await api('POST', `/api/holds/${rel.id}/cancel`, { reason })).status, 200);
  await atBothWidths(rel.checkin_url, 'released', async (p) => {
    const t = await text(p);
    assert.match(t, /The hold of \$250\.00 was released on .* Nothing was charged/);
    assert.ok(t.includes(`Reason given: ${reason}`), 'the reason, shown as text');
    assert.equal(await p.locator('#facts img').count(), 0);
  });

  const lapsing = await newHold({ payment_method: 'pm_card_visa', confirm: true });
  assert.equal((await api('POST', '/_sim/clock', { advance_secs: 8 * 86400 })).status, 200);
  await atBothWidths(lapsing.checkin_url, 'expired', async (p) => {
    const t = await text(p);
    assert.match(t, /This hold has ended/);
    assert.match(t, /The hold of \$250\.00 ended on .* without any charge/);
  });
});

for (const c of [
  { currency: 'usd', amount: 25000, held: '$250.00', lines: ['50', '25.5'], total: '$75.50', captured: 7550, charged: '$75.50 charged, $174.50 released' },
  { currency: 'jpy', amount: 30000, held: '¥30,000', lines: ['2500', '500'], total: '¥3,000', captured: 3000, charged: '¥3,000 charged, ¥27,000 released' },
  { currency: 'kwd', amount: 80000, held: 'KWD 80.000', lines: ['12.34', '0.65'], total: 'KWD 12.990', captured: 12990, charged: 'KWD 12.990 charged, KWD 67.010 released' },
]) {
  test(`${c.currency.toUpperCase()} amounts follow the currency on the guest page and in the console total`, async () => {
    const h = await newHold({ amount: c.amount, currency: c.currency, payment_method: 'pm_card_visa', confirm: true });
    const p = await page(1280);
    await p.goto(h.checkin_url);
    assert.equal(await p.locator('#amount').innerText(), c.held);
    await signIn(p);
    await p.goto(`${base}/console/holds/${h.id}`);
    await p.getByLabel('Description').fill('Broken lamp');
    await p.locator('#amount-0').fill(c.lines[0]);
    await p.getByRole('button', { name: 'Add line' }).click();
    await p.locator('#desc-1').fill('Cleaning');
    await p.locator('#amount-1').fill(c.lines[1]);
    assert.equal(await p.locator('#total').innerText(), c.total);
    await p.screenshot({ path: `${shots}/console-total-${c.currency}.png`, fullPage: true });
    await p.getByRole('button', { name: 'Capture' }).click();
    await p.getByRole('status').waitFor();
    assert.equal((await api('GET', `/api/holds/${h.id}`)).body.amount_captured, c.captured);
    await p.goto(h.checkin_url);
    assert.match(await text(p), new RegExp(c.charged.replace(/[.$]/g, '\\$&')));
  });
}
