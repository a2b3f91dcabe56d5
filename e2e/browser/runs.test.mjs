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
  assert.match(await waiting.innerText(), /busy.*Trying again in [23] s/s);
  await shot(page, 'run-429-countdown');
  assert.equal(await runEnded(page, 15_000), 'done');
  assert.equal(refused, 2, 'retried once by itself');
  await page.unroute('**/api/v1/run/stream');
  assert.deepEqual(browser.errors.filter((e) => !/429/.test(e)), [], 'no page errors');
});
