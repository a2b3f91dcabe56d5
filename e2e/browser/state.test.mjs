// Honest state: Back/Forward move between lessons, a link pasted into an open tab opens (and
// runs) what it names, a result of another experiment is dimmed with a banner saying so, and a
// server that goes away and comes back is said to be unreachable, then the run goes through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openGallery, runEnded, shot, BASE } from './lib.mjs';

let browser;
let page;

before(async () => {
  browser = await launch();
  page = await browser.page();
});
after(async () => browser?.close());

const b64url = (s) => Buffer.from(s).toString('base64url');
const lessonTitle = async () => (await page.locator('.lesson summary').innerText()).trim();

async function openLesson(id) {
  await page.locator('#tab-lessons').click();
  await page.locator(`.card[data-preset="${id}"] button.secondary`).click();
  await page.waitForFunction((id) => location.hash === `#preset=${btoa(id).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')}`, id);
}

test('Back and Forward move between the lessons opened, inside the app', async () => {
  await openGallery(page);
  await openLesson('seed-inherit');
  await openLesson('seed-kernel');
  assert.match(await lessonTitle(), /kernel/i);
  await page.goBack();
  await page.waitForFunction(() => /new mount namespace|copy/i.test(document.querySelector('.lesson summary')?.innerText ?? ''));
  assert.equal(new URL(page.url()).origin, new URL(BASE).origin, 'still in the app');
  await page.goForward();
  await page.waitForFunction(() => /kernel/i.test(document.querySelector('.lesson summary')?.innerText ?? ''));
});

test('a link pasted into an open tab opens and runs what it names', async () => {
  await openGallery(page);
  assert.equal(await page.locator('#point').count(), 0, 'nothing has run in this page yet');
  await page.goto(`${BASE}/#preset=${b64url('seed-union')}&run=1`);
  await page.locator('#point').waitFor();
  assert.equal(await runEnded(page), 'done');
  assert.match(await lessonTitle(), /union/i);
  assert.match(await page.locator('.point-sentence').innerText(), /x comes from A/);
});

test('the result of another experiment is dimmed, with a banner that says so', async () => {
  await openGallery(page);
  await page.locator('.card[data-preset="seed-tmpfs"] .run-preset').click();
  assert.equal(await runEnded(page), 'done');
  assert.equal(await page.locator('.stale-banner').count(), 0, 'a fresh result has no banner');
  await openLesson('seed-kernel');
  assert.match(await page.locator('.stale-banner').innerText(), /earlier experiment/);
  assert.ok(await page.locator('.stale #results').count(), 'the old result is dimmed');
  await shot(page, 'stale-result');
});

test('server down: "not reachable" with Retry, then the run goes through when it is back', async () => {
  await openGallery(page);
  await page.locator('.card[data-preset="seed-tmpfs"] .run-preset').click();
  assert.equal(await runEnded(page), 'done');
  const down = (route) => route.abort('connectionrefused');
  await page.route('**/api/v1/**', down);
  await page.route('**/healthz', down);
  await page.locator('.card[data-preset="seed-inherit"] .run-preset').click();
  await page.locator('.server-down').waitFor();
  assert.match(await page.locator('.server-down').innerText(), /not reachable/);
  assert.doesNotMatch(await page.locator('.right').innerText(), /TypeError|JsValue|Failed to fetch/, 'no raw browser error');
  assert.ok(await page.locator('#retry').isVisible());
  assert.match(await page.locator('.stale-banner').innerText(), /last run failed[\s\S]*run before it/, "the previous result is not passed off as this run's");
  assert.ok(await page.locator('.stale #results').count(), 'and it is dimmed');
  await shot(page, 'server-down');
  await page.unroute('**/api/v1/**', down);
  await page.unroute('**/healthz', down);
  await page.locator('#retry').click();
  await page.locator('.server-down').waitFor({ state: 'detached' });
  assert.equal(await runEnded(page), 'done', 'the failed run ran again');
  await shot(page, 'server-back');
  assert.match(await page.locator('.point-sentence').innerText(), /same \d+ entries/);
});

test('a page opened while the server is down shows the lessons by itself once it is back', async () => {
  const down = (route) => route.abort('connectionrefused');
  await page.route('**/api/v1/**', down);
  await page.route('**/healthz', down);
  await page.goto(`${BASE}/`);
  await page.locator('main[data-presets="failed"]').waitFor();
  assert.match(await page.locator('.server-down').innerText(), /not reachable[\s\S]*every 3 seconds/);
  await page.unroute('**/api/v1/**', down);
  await page.unroute('**/healthz', down);
  // No click: the page polls /healthz and reloads the gallery.
  await page.locator('main[data-presets="ready"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('.server-down').count(), 0);
  assert.ok(await page.locator('.gallery .card').count() > 5);
});
