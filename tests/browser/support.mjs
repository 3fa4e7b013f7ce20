// What every browser test shares: the service under test (CC_BASE,
// CC_TOKEN, SCREENSHOT_DIR from crates/server/tests/browser.rs), Debian's
// Chromium, the API as an admin, and signing in to the console. Not a test
// file itself (node --test picks *.test.mjs only).
import { chromium } from 'playwright-core';

export const base = process.env.CC_BASE;
export const token = process.env.CC_TOKEN;
export const shots = process.env.SCREENSHOT_DIR;

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export async function api(method, path, body) {
  const r = await fetch(base + path, { method, headers: { 'ChittyID-Token': token, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

export async function signIn(p, withToken = token) {
  await p.goto(base + '/console');
  await p.getByLabel('API token').fill(withToken);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.waitForURL(/\/console\/holds$/);
}
