// Composing: validation as you type (the shared rules compiled to wasm), errors at the field,
// the form and the JSON editor kept in step, and a shared link that reproduces a run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { launch, api, openGallery, runEnded, shot, BASE } from './lib.mjs';

let browser;
let page;

before(async () => {
  browser = await launch({ colorScheme: 'dark' });
  page = await browser.page();
});
after(async () => browser?.close());

const INVALID = {
  version: 1,
  steps: [
    { op: 'container', name: 'c1' },
    { op: 'tmpfs', in: 'c1', target: 'tmp' },
  ],
};

test('an invalid spec shows its field error at the field and blocks Run', async () => {
  await openGallery(page);
  await page.locator('#tab-compose').click();
  await page.locator('#f-json').fill(JSON.stringify(INVALID, null, 2));
  const target = page.locator('#f-steps-1-target');
  await target.waitFor();
  assert.equal(await target.getAttribute('aria-invalid'), 'true');
  const message = await page.locator('#f-steps-1-target-err').innerText();
  assert.ok(message.length > 0, 'a message under the field');
  assert.ok(await page.locator('.issues [data-field="steps[1].target"]').count() === 1, 'listed in the summary');
  assert.ok(await page.locator('#run').isDisabled(), 'Run is disabled');
  await shot(page, 'invalid-spec');

  // Fixing it in the form clears the error, and the JSON follows.
  await target.fill('/tmp');
  await page.locator('.valid').waitFor();
  assert.equal(JSON.parse(await page.locator('#f-json').inputValue()).steps[1].target, '/tmp');
  assert.ok(await page.locator('#run').isEnabled());
});

test('the server agrees with the page about the same spec', async () => {
  const r = await fetch(`${BASE}/api/v1/validate`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(INVALID) });
  const body = await r.json();
  assert.equal(body.valid, false);
  assert.ok(body.fields.some((f) => f.field === 'steps[1].target'));
});

test('broken JSON is explained, not a blank form', async () => {
  await page.locator('#f-json').fill('{ "steps": [ ');
  await page.locator('.issues').waitFor();
  assert.match(await page.locator('.composer, .form-col').first().innerText(), /does not parse/);
});

test('steps can be added, reordered and removed in the form', async () => {
  await page.locator('#f-json').fill(JSON.stringify({ version: 1, steps: [{ op: 'container', name: 'c1' }] }, null, 2));
  await page.locator('#new-op').selectOption('snapshot');
  await page.getByRole('button', { name: '+ Add step' }).click();
  await page.locator('#new-op').selectOption('mkdir');
  await page.getByRole('button', { name: '+ Add step' }).click();
  let ops = JSON.parse(await page.locator('#f-json').inputValue()).steps.map((s) => s.op);
  assert.deepEqual(ops, ['container', 'snapshot', 'mkdir']);
  await page.getByRole('button', { name: 'Move step 3 up' }).click();
  ops = JSON.parse(await page.locator('#f-json').inputValue()).steps.map((s) => s.op);
  assert.deepEqual(ops, ['container', 'mkdir', 'snapshot']);
  await page.getByRole('button', { name: 'Remove step 2' }).click();
  ops = JSON.parse(await page.locator('#f-json').inputValue()).steps.map((s) => s.op);
  assert.deepEqual(ops, ['container', 'snapshot']);
  await shot(page, 'composer-form');
});

test('an argument with spaces typed key by key stays one argument', async () => {
  await page.locator('#f-json').fill(JSON.stringify({ version: 1, steps: [{ op: 'container', name: 'c1' }, { op: 'run', in: 'c1', argv: ['true'] }] }, null, 2));
  const argv = page.locator('#f-steps-1-argv');
  await argv.fill('');
  await argv.pressSequentially("sh -c 'echo a b'", { delay: 15 });
  assert.equal(await argv.inputValue(), "sh -c 'echo a b'", 'nothing typed was eaten');
  assert.deepEqual(JSON.parse(await page.locator('#f-json').inputValue()).steps[1].argv, ['sh', '-c', 'echo a b']);
});

test('a shared link reproduces the run', async () => {
  const [first] = await api('/presets');
  await openGallery(page);
  await page.locator(`.card[data-preset="${first.id}"] .run-preset`).click();
  assert.equal(await runEnded(page), 'done');
  const rowsHere = await page.locator('.tree tr.row').allInnerTexts();
  const link = await page.locator('#share-link').inputValue();
  assert.match(link, /#preset=.*&run=1$/);

  const other = await browser.context.newPage();
  await other.goto(link);
  assert.equal(await runEnded(other), 'done');
  assert.deepEqual(await other.locator('.tree tr.row').allInnerTexts(), rowsHere);
  await other.close();
});

test('an edited spec travels in the link and runs when opened', async () => {
  const spec = {
    version: 1,
    title: 'shared by link',
    steps: [
      { op: 'container', name: 'c1' },
      { op: 'write', in: 'c1', path: '/tmp/from-link', content: 'hello' },
      { op: 'snapshot', label: 'after write', paths: ['/tmp'] },
    ],
  };
  await page.locator('#tab-compose').click();
  await page.locator('#f-json').fill(JSON.stringify(spec, null, 2));
  await page.locator('.valid').waitFor();
  const link = await page.locator('#share-link').inputValue();
  assert.match(link, /#spec=[A-Za-z0-9_-]+&run=1$/);

  const other = await browser.context.newPage();
  await other.goto(link);
  assert.equal(await runEnded(other), 'done');
  assert.deepEqual(JSON.parse(await other.locator('#f-json').inputValue()), spec);
  assert.ok(await other.locator('.tree tr[data-path="from-link"]').count() > 0, 'the written file is in the snapshot');
  await shot(other, 'shared-spec-link');
  await other.close();
});

test('copy curl and copy spec put them on the clipboard in one click', async () => {
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  await page.locator('.share > summary').click();
  await page.locator('#copy-curl').click();
  const curl = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(curl, /^curl -sS -X POST '.*\/api\/v1\/run' -H 'Content-Type: application\/json' -d '/);
  // The copied command, run by a shell, gets the same experiment from the API.
  const body = JSON.parse(curl.match(/-d '(.*)'$/s)[1].replaceAll("'\\''", "'"));
  assert.deepEqual(body, JSON.parse(await page.locator('#f-json').inputValue()));
  const ran = JSON.parse(execFileSync('sh', ['-c', curl], { encoding: 'utf8' }));
  assert.equal(ran.status, 'completed', 'the copied curl command runs the experiment');
  assert.equal(ran.title, body.title);
  await page.locator('#copy-spec').click();
  assert.deepEqual(JSON.parse(await page.evaluate(() => navigator.clipboard.readText())), body);
  assert.match(await page.locator('.share [role=status]').innerText(), /Copied the spec/);
  assert.deepEqual(browser.errors, [], 'no page errors');
});
