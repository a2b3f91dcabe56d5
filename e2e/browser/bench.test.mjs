// The 10,000-entry tree diff page: every row is reachable by scrolling, though only the rows in
// view are in the DOM. (Its timings are measured by budgets.mjs, never asserted.)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE } from './lib.mjs';

let browser;
after(async () => browser?.close());

test('a 10,000-entry tree diff renders the rows in view and scrolls to the end', async () => {
  browser = await launch();
  const page = await browser.page();
  await page.goto(`${BASE}/#bench=10000`);
  await page.waitForFunction(() => document.getElementById('bench-result')?.dataset.done, null, { timeout: 60_000 });
  const summary = await page.locator('.diff-summary').innerText();
  const open = Number(summary.match(/(\d+) rows open/)[1]);
  assert.ok(open > 10_000, `every entry is a row (${summary})`);
  assert.ok(await page.locator('.tree tr.row').count() < 100, 'only the rows in view are drawn');
  assert.ok(await page.locator('.tree tr.added').count() + await page.locator('.tree tr.removed').count() > 0 || /[1-9]\d* added/.test(summary));
  const box = page.locator('.tree-scroll.virtual');
  await box.evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await page.waitForFunction(() => [...document.querySelectorAll('.tree tr.row')].some((r) => r.dataset.path.startsWith('d099/')));
  const last = await page.locator('.tree tr.row').last().getAttribute('data-path');
  assert.equal(last, 'd099/new99', 'the last entry (added on the right) is reachable');
  assert.deepEqual(browser.errors, []);
});
