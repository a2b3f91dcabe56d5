// Accessibility: axe-core (run in the page) finds no serious or critical violation on the
// gallery, four lessons' results (a leak, overlay layers, escaped vs contained, steps refused and
// allowed), a lesson's question and its graded answer, and the composer (with its expectations),
// in the light and the dark colour scheme.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { launch, openGallery } from './lib.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const browsers = [];
after(async () => Promise.all(browsers.map((b) => b.close())));

/** Serious and critical violations on the page as it is now, one line each. */
async function violations(page) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => ['serious', 'critical'].includes(v.impact))
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}

for (const colorScheme of ['light', 'dark']) {
  test(`no serious or critical axe violations (${colorScheme})`, async (t) => {
    const browser = await launch({ colorScheme });
    browsers.push(browser);
    const page = await browser.page();
    await t.test('gallery', async () => {
      await openGallery(page);
      assert.deepEqual(await violations(page), []);
    });
    // First, before any result: a dimmed earlier result is not what is checked here.
    await t.test('a question, then its answer graded wrong', async () => {
      await page.locator('.card[data-preset="seed-union"] .predict').click();
      await page.locator('section#quiz').waitFor();
      assert.deepEqual(await violations(page), []);
      await page.locator('section#quiz label[data-choice="1"]').click();
      await page.locator('#run').click();
      await page.locator('#verdict').waitFor();
      assert.equal(await page.locator('.stale').count(), 0);
      assert.deepEqual(await violations(page), []);
      await page.locator('details#quiz summary').click();
      assert.deepEqual(await violations(page), []);
    });
    for (const id of ['seed-propagation-leak', 'seed-layers', 'pivot-vs-chroot', 'move-mount']) {
      await t.test(`a lesson result: ${id}`, async () => {
        await page.locator(`.card[data-preset="${id}"] .run-preset`).click();
        // This lesson's result, not the last one's (dimmed while the new run goes on).
        await page.waitForFunction((id) => document.querySelector('.card.selected')?.dataset.preset === id
          && document.querySelector('.run-status [data-state]')?.dataset.state === 'done'
          && !document.querySelector('.stale'), id);
        await page.locator('#point').waitFor();
        assert.deepEqual(await violations(page), []);
      });
    }
    await t.test('composer', async () => {
      await page.locator('#tab-compose').click();
      await page.locator('#f-json').waitFor();
      assert.deepEqual(await violations(page), []);
    });
  });
}
