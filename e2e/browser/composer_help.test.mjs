// The composer explains itself: help on every field, a warning while the host's / is shared, a
// blank start, line numbers in the JSON editor and a syntax error that jumps to its place, and
// one column on a phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openGallery, shot } from './lib.mjs';

let browser;
let page;

before(async () => {
  browser = await launch();
  page = await browser.page();
});
after(async () => browser?.close());

async function composer() {
  await openGallery(page);
  await page.locator('#tab-compose').click();
  await page.locator('#f-json').waitFor();
}

test('every field of the form has help, and a shared / is warned about', async () => {
  await page.setViewportSize({ width: 1280, height: 720 });
  await composer();
  await page.locator('#f-json').fill(JSON.stringify({
    version: 1,
    host: { image: 'tools', root_propagation: 'shared' },
    steps: [{ op: 'container', name: 'c1' }, { op: 'tmpfs', in: 'c1', target: '/tmp' }],
  }, null, 2));
  const fields = await page.locator('.composer .field').count();
  assert.ok(fields >= 6, `the form shows its fields (${fields})`);
  assert.equal(await page.locator('.composer .field .help-btn').count(), fields, 'one help button per field');
  await page.locator('#f-steps-1-target').waitFor();
  await page.locator('.field:has(#f-steps-1-target) .help-btn').click();
  assert.match(await page.locator('#f-steps-1-target-help').innerText(), /absolute path/);
  await page.keyboard.press('Escape');
  assert.match(await page.locator('#root-shared-warn').innerText(), /comes back to the host/);
  await page.locator('#f-host-root_propagation').selectOption('private');
  await page.locator('#root-shared-warn').waitFor({ state: 'detached' });
});

test('Start blank empties the experiment', async () => {
  await composer();
  await page.locator('#start-blank').click();
  const spec = JSON.parse(await page.locator('#f-json').inputValue());
  assert.deepEqual(spec.steps, []);
  assert.equal(spec.host.root_propagation, 'private');
});

test('the JSON editor numbers its lines and a syntax error jumps to its place', async () => {
  await composer();
  await page.locator('#f-json').fill('{\n  "version": 1\n  "steps": [\n    { "op": "container" "name": "c1" }\n  ]\n}');
  assert.equal((await page.locator('.json-wrap .gutter').innerText()).trim().split('\n').join(','), '1,2,3,4,5,6');
  const issues = page.locator('.issues li[data-line]');
  assert.deepEqual(await issues.evaluateAll((li) => li.map((l) => l.dataset.line)), ['3', '4'], 'every syntax error, not only the first');
  const issue = issues.nth(1);
  await issue.locator('button').click();
  const caret = await page.locator('#f-json').evaluate((t) => ({
    focused: document.activeElement === t,
    line: t.value.slice(0, t.selectionStart).split('\n').length,
  }));
  assert.deepEqual(caret, { focused: true, line: 4 });
});

test('on a phone the composer is one column: form above the editor, no overlap', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await composer();
  const form = await page.locator('.form-col').boundingBox();
  const json = await page.locator('.json-col').boundingBox();
  assert.ok(form.y + form.height <= json.y + 1, `the editor starts below the form (${JSON.stringify({ form, json })})`);
  assert.ok(json.x >= 0 && json.x + json.width <= 390 + 0.5, 'the editor fits the width');
  const share = await page.locator('.share > summary').boundingBox();
  assert.ok(share.x + share.width <= 390 + 0.5, 'Share is not clipped');
  await shot(page, 'composer-390');
  await page.setViewportSize({ width: 1280, height: 720 });
});
