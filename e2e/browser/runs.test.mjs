// Running: visible progress, cancel, and a busy server's 429 turned into a countdown and a retry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openGallery, runEnded, shot } from './lib.mjs';

let browser;
let page;

before(async () => {
  browser = await launch();
  page = await browser.page();
});
after(async () => browser?.close());

async function compose(spec) {
  await openGallery(page);
  await page.locator('#tab-compose').click();
  await page.locator('#f-json').fill(JSON.stringify(spec, null, 2));
  await page.locator('.valid').waitFor();
}

const BUSY_LOOP = {
  version: 1,
  title: 'a step that never ends',
  steps: [
    { op: 'container', name: 'c1' },
    { op: 'run', in: 'c1', argv: ['bash', '-c', 'while :; do :; done'] },
    { op: 'snapshot', label: 'never reached' },
  ],
};

test('a long run shows its progress and can be cancelled', async () => {
  await compose(BUSY_LOOP);
  await page.locator('#run').click();
  await page.waitForFunction(() => /step 2 of 3: run in c1/.test(document.querySelector('.run-status')?.innerText ?? ''), null, { timeout: 10_000 });
  assert.match(await page.locator('.live-steps').innerText(), /unshare/, 'finished steps are listed as they stream in');
  await shot(page, 'run-progress');
  const started = Date.now();
  await page.locator('#cancel').click();
  assert.equal(await runEnded(page, 8_000), 'cancelled');
  console.log(`# cancelled ${Date.now() - started} ms after the click`);
  assert.ok(await page.locator('#run').isEnabled(), 'ready to run again');
});

test('a 429 from a busy server becomes a countdown, then the run goes through', async () => {
  await compose({ version: 1, title: 'after a 429', steps: [{ op: 'container', name: 'c1' }, { op: 'snapshot', label: 's', paths: ['/tmp'] }] });
  let refused = 0;
  await page.route('**/api/v1/run/stream', async (route) => {
    if (refused++ === 0) {
      // The first attempt meets a full queue, exactly as the server words it (docs/api.md).
      await route.fulfill({
        status: 429,
        headers: { 'Retry-After': '3', 'Content-Type': 'application/json' },
        body: JSON.stringify({ error: { code: 'busy', message: 'all sandboxes are busy and the queue is full', fields: [] } }),
      });
    } else {
      await route.continue();
    }
  });
  await page.locator('#run').click();
  const waiting = page.locator('[data-state="waiting"]');
  await waiting.waitFor();
  assert.match(await waiting.innerText(), /sandbox on the server is busy.*HTTP 429: all sandboxes are busy.*trying again in [23] s/s);
  await shot(page, 'run-429-countdown');
  assert.equal(await runEnded(page, 15_000), 'done');
  assert.equal(refused, 2, 'retried once by itself');
  await page.unroute('**/api/v1/run/stream');
  assert.deepEqual(browser.errors.filter((e) => !/429/.test(e)), [], 'no page errors');
});

test("the server's own rate limit (a real 429) is waited out the same way", async () => {
  await compose({ version: 1, title: 'after a real 429', steps: [{ op: 'container', name: 'c1' }, { op: 'snapshot', label: 's', paths: ['/tmp'] }] });
  // Keep this client's bucket empty with /validate calls (the same per-IP bucket as runs) while
  // Run is pressed; a token can still trickle to the run, so try a few times.
  let first;
  for (let attempt = 0; attempt < 5; attempt++) {
    await page.evaluate(() => {
      window.flood = true;
      const body = JSON.stringify({ version: 1, steps: [] });
      const loop = async () => {
        while (window.flood) await fetch('/api/v1/validate', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
      };
      for (let i = 0; i < 5; i++) loop();
    });
    await page.waitForTimeout(2_500);
    const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/run/stream'));
    await page.locator('#run').click();
    first = await answer;
    await page.evaluate(() => { window.flood = false; });
    if (first.status() === 429) break;
    await runEnded(page);
  }
  assert.equal(first.status(), 429, 'the run met the rate limit');
  assert.ok(Number(first.headers()['retry-after']) >= 1, 'Retry-After is set');
  await page.locator('[data-state="waiting"]').waitFor();
  assert.match(await page.locator('[data-state="waiting"]').innerText(), /Too many runs from this browser.*HTTP 429.*trying again in \d+ s/s);
  await shot(page, 'run-429-real');
  assert.equal(await runEnded(page, 20_000), 'done');
});

test('keyboard only: Tab to a lesson, Enter runs it, focus is visible', async () => {
  await openGallery(page);
  // The first focusable controls are the header's; the first lesson's Open and Run follow.
  let focused = '';
  for (let i = 0; i < 12 && !focused.includes('run-preset'); i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement?.className ?? '');
  }
  assert.match(focused, /run-preset/, 'a lesson\'s Run button is reachable with Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'the focused button shows a focus ring');
  await shot(page, 'keyboard-focus');
  await page.keyboard.press('Enter');
  assert.equal(await runEnded(page), 'done');
});
