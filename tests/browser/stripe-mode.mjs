// The check-in page in Stripe mode, in headless Chromium, against the Stripe
// emulator: the page loads Stripe.js from STRIPE_JS_URL (the emulator's
// stand-in), the card goes from the browser to "Stripe" with the
// publishable key and the client secret, and our hold learns the outcome
// only from the emulator's signed webhook. Run by crates/server/tests/
// browser.rs (not named *.test.mjs, so the simulator run leaves it alone);
// it passes CC_BASE, CC_TOKEN, EMULATOR and SCREENSHOT_DIR.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { base, token, shots, api, launch } from './support.mjs';

const emulator = process.env.EMULATOR;
let browser;

before(async () => {
  browser = await launch();
});
after(async () => { if (browser) await browser.close(); });

async function newHold() {
  const r = await api('POST', '/api/holds', { amount: 25000, description: 'Incidentals', customer_email: 'guest@example.com' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.status, 'requires_payment_method');
  return r.body;
}
async function page() {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 900 } });
  const p = await ctx.newPage();
  p.errors = [];
  p.on('console', (m) => { if (m.type() === 'error') p.errors.push(m.text()); });
  p.on('pageerror', (e) => p.errors.push(String(e)));
  p.on('response', (r) => { if (r.status() >= 400) p.errors.push(`${r.status()} ${r.url()}`); });
  return p;
}
// The hold as our store has it, without asking the processor: the list
// endpoint does not refresh, so a change here came from the webhook.
async function storedStatus(id) {
  for (const status of ['requires_capture', 'requires_payment_method', 'requires_action']) {
    const list = (await api('GET', `/api/holds?status=${status}`)).body.holds;
    if (list.some((h) => h.id === id)) return status;
  }
  return 'other';
}
// A deadline in time, not in tries: on a loaded machine each try (three
// API calls) takes longer, and a count of tries ran out early on CI.
async function until(what, check, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`never within ${seconds} s: ${what}`);
}
// What a failure needs to be understood from CI's log alone: the page's
// message, its errors, and the hold as our store and its event log have it.
async function explained(p, holdId, body) {
  try {
    await body();
  } catch (e) {
    const message = await p.locator('#message').innerText().catch(() => '(none)');
    const status = await storedStatus(holdId).catch((x) => `(unreadable: ${x})`);
    const events = await api('GET', `/api/holds/${holdId}/events`).then((r) => JSON.stringify(r.body)).catch((x) => String(x));
    e.message += `\n  page message: ${message}\n  page errors: ${JSON.stringify(p.errors)}\n  stored status: ${status}\n  events: ${events}`;
    throw e;
  }
}
async function card(p, number) {
  await p.getByLabel('Card number', { exact: true }).fill(number);
  await p.getByRole('button', { name: /Authorize/ }).click();
}

test('the page loads the configured Stripe.js and no card field of ours', async () => {
  const h = await newHold();
  const p = await page();
  const scripts = [];
  p.on('request', (r) => { if (r.resourceType() === 'script') scripts.push(r.url()); });
  await p.goto(h.checkin_url);
  await p.getByLabel('Card number', { exact: true }).waitFor();
  assert.ok(scripts.includes(`${emulator}/js.stripe.com/v3/`), scripts.join(', '));
  assert.equal(await p.locator('#number').count(), 0, 'the card number never enters a field of ours');
  assert.deepEqual(p.errors, [], 'no script error and no CSP violation');
});

test('a declined card reads in plain words, another card authorizes, and the webhook moves our hold', async () => {
  const h = await newHold();
  const p = await page();
  await explained(p, h.id, async () => {
    await p.goto(h.checkin_url);
    await card(p, '4000 0000 0000 0002');
    const msg = p.locator('#message');
    await msg.waitFor({ state: 'visible' });
    assert.equal(await msg.innerText(), 'Your bank declined this card. Please try another card.');
    await p.screenshot({ path: `${shots}/stripe-checkin-declined.png`, fullPage: true });
    assert.ok(await p.getByRole('button', { name: /Authorize/ }).isEnabled(), 'the guest can try again');
    await card(p, '4000 0000 0000 9995');
    await p.getByText('does not have enough available funds').waitFor();
    await card(p, '4242 4242 4242 4242');
    await p.locator('#done').waitFor({ state: 'visible' });
    assert.equal(await msg.isVisible(), false, 'the old error is gone');
    await p.screenshot({ path: `${shots}/stripe-checkin-authorized.png`, fullPage: true });
    await until('the webhook authorizes our hold', async () => (await storedStatus(h.id)) === 'requires_capture');
    // An event is news, not the truth: its sync reads the intent as it is
    // now. So whichever event is applied first once the card authorized
    // moves the hold: one of the emulator's two events for the
    // authorization, or a late one for the declines before it (a
    // `payment_failed` delivered after the third card went through). It
    // moves it once.
    const events = (await api('GET', `/api/holds/${h.id}/events`)).body;
    const moved = (events.events || events).filter((e) => e.to_status === 'requires_capture');
    assert.equal(moved.length, 1, JSON.stringify(events));
    assert.match(moved[0].actor, /^processor event payment_intent\.(amount_capturable_updated|succeeded|payment_failed) /);
    // The two declines are Stripe's 402 answers; nothing else failed.
    assert.deepEqual(p.errors.filter((e) => !/402/.test(e)), []);
  });
});

test('a 3-D Secure card runs the bank challenge from Stripe.js and authorizes', async () => {
  const h = await newHold();
  const p = await page();
  await p.goto(h.checkin_url);
  await card(p, '4000 0025 0000 3155');
  await p.getByRole('dialog', { name: '3D Secure' }).waitFor();
  await p.screenshot({ path: `${shots}/stripe-checkin-3ds.png`, fullPage: true });
  await p.getByRole('button', { name: 'Complete authentication' }).click();
  await p.locator('#done').waitFor({ state: 'visible' });
  await until('the webhook authorizes our hold', async () => (await storedStatus(h.id)) === 'requires_capture');
});

test('a failed 3-D Secure challenge says so and lets the guest use another card', async () => {
  const h = await newHold();
  const p = await page();
  await p.goto(h.checkin_url);
  await card(p, '4000 0025 0000 3155');
  await p.getByRole('button', { name: 'Fail authentication' }).click();
  await p.getByText('Your bank could not confirm it was you').waitFor();
  await card(p, '4242 4242 4242 4242');
  await p.locator('#done').waitFor({ state: 'visible' });
  await until('the webhook authorizes our hold', async () => (await storedStatus(h.id)) === 'requires_capture');
});

test('back on the page of a hold waiting for 3-D Secure, Stripe.js resumes the bank step', async () => {
  const r = await api('POST', '/api/holds', { amount: 25000, description: 'Incidentals', payment_method: 'pm_card_threeDSecure2Required', confirm: true });
  assert.equal(r.body.status, 'requires_action', JSON.stringify(r.body));
  const p = await page();
  await p.goto(r.body.checkin_url);
  assert.equal(await p.locator('#stripe-form').isVisible(), false, 'no second card form');
  await p.getByRole('button', { name: 'Continue with your bank' }).click();
  await p.getByRole('button', { name: 'Complete authentication' }).click();
  await p.locator('#done').waitFor({ state: 'visible' });
  await until('the webhook authorizes our hold', async () => (await storedStatus(r.body.id)) === 'requires_capture');
});
