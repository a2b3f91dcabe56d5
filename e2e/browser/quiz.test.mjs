// Predict, then run: a lesson's question answered right (seed-union) and wrong
// (seed-propagation-private) on a laptop (1280x720) and a phone (390x844). The card grades the
// answer with what the kernel did, the evidence stays on the first screen, the gallery marks
// each lesson, the progress survives a reload in localStorage and downloads as JSON; running
// without an answer skips the question; the composer adds an expectation the result grades.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, api, openGallery, runEnded, shot } from './lib.mjs';

let browser;
let page;
let union;
let priv;

before(async () => {
  union = await api('/presets/seed-union');
  priv = await api('/presets/seed-propagation-private');
  browser = await launch();
  page = await browser.page();
});
after(async () => browser?.close());

/** The element's box lies inside the viewport. */
async function onFirstScreen(selector, size) {
  const box = await page.locator(selector).first().boundingBox();
  assert.ok(box, `${selector} is rendered`);
  const inside = box.y >= 0 && box.x >= 0 && box.y + box.height <= size.height + 0.5 && box.x + box.width <= size.width + 0.5;
  assert.ok(inside, `${selector} at ${JSON.stringify(box)} is outside the ${size.width}x${size.height} viewport`);
}

/** Open lesson `id` with "Predict", pick choice `i`, run it. */
async function predictAndRun(id, i) {
  await page.locator(`.card[data-preset="${id}"] .predict`).click();
  const quiz = page.locator('section#quiz');
  await quiz.waitFor();
  await quiz.locator(`label[data-choice="${i}"]`).click();
  assert.ok(await quiz.locator(`label[data-choice="${i}"] input`).isChecked());
  await page.locator('#run').click();
  assert.equal(await runEnded(page), 'done');
  await page.locator('#point').waitFor();
}

const progress = () => page.evaluate(() => JSON.parse(localStorage.getItem('rootlab.progress') ?? 'null'));

for (const size of [{ width: 1280, height: 720 }, { width: 390, height: 844 }]) {
  test(`a right and a wrong prediction are graded on the real result at ${size.width}x${size.height}`, async () => {
    await page.setViewportSize(size);
    await openGallery(page);
    await page.evaluate(() => localStorage.clear());
    await openGallery(page);

    // Right: `cat C/x` prints A's x.
    await page.locator('.card[data-preset="seed-union"] .predict').click();
    await page.locator('section#quiz').waitFor();
    assert.match(await page.locator('#quiz-prompt').innerText(), /What does cat C\/x print\?/);
    assert.equal(await page.locator('section#quiz .choice').count(), union.question.choices.length);
    await onFirstScreen('section#quiz', size);
    await shot(page, `quiz-question-${size.width}`);
    await predictAndRun('seed-union', union.question.answer);
    const right = page.locator('#verdict');
    assert.equal(await right.getAttribute('data-correct'), 'true');
    assert.match(await right.innerText(), /You predicted right: x from A[\s\S]*The result: steps\[1\] printed "x from A\\n"/);
    assert.equal(await page.locator('details#quiz').getAttribute('data-verdict'), 'right', 'the question folds to one line');
    for (const s of ['#verdict', '.point-sentence', '.ev-entries li[data-path="x"] .badge.layer']) await onFirstScreen(s, size);
    await page.screenshot({ path: `${process.cwd()}/e2e/screenshots/quiz-right-${size.width}.png` });

    // Wrong: the private fix does not leak, whatever was predicted.
    const wrongPick = priv.question.choices.findIndex((_, i) => i !== priv.question.answer);
    await page.locator('#tab-lessons').click();
    await predictAndRun('seed-propagation-private', wrongPick);
    const wrong = page.locator('#verdict');
    assert.equal(await wrong.getAttribute('data-correct'), 'false');
    const said = await wrong.innerText();
    assert.match(said, /Not what happened/);
    assert.ok(said.includes(priv.question.choices[wrongPick].text), 'the pick is shown');
    assert.ok(said.includes(priv.question.choices[priv.question.answer].text), 'the right answer is shown');
    assert.match(said, /The result: host has no mount on \/tmp/, "the kernel's side, from the graded expectation");
    assert.equal(await page.locator('details#quiz').getAttribute('data-verdict'), 'wrong');
    for (const s of ['#verdict', '.ev-mounts tr.absent[data-target="/tmp"]']) await onFirstScreen(s, size);
    await page.screenshot({ path: `${process.cwd()}/e2e/screenshots/quiz-wrong-${size.width}.png` });

    // Progress: in localStorage, marked in the gallery, kept across a reload.
    const saved = await progress();
    assert.equal(saved.rootlab_progress, 1);
    assert.deepEqual(saved.lessons['seed-union'], { answered: 1, correct: 1, last_correct: true });
    assert.deepEqual(saved.lessons['seed-propagation-private'], { answered: 1, correct: 0, last_correct: false });
    await openGallery(page);
    assert.equal(await page.locator('.card[data-preset="seed-union"] .progress-mark').getAttribute('data-mark'), 'right');
    assert.equal(await page.locator('.card[data-preset="seed-propagation-private"] .progress-mark').getAttribute('data-mark'), 'wrong');
    assert.equal(await page.locator('.card[data-preset="seed-tmpfs"] .progress-mark').count(), 0);
    const lessons = (await api('/presets')).length;
    assert.match(await page.locator('#progress').innerText(), new RegExp(`1 of ${lessons} predicted right, 2 answered`));
    await shot(page, `quiz-gallery-${size.width}`);

    // Download progress: the same JSON as a file.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download-progress').click()]);
    assert.equal(download.suggestedFilename(), 'rootlab-progress.json');
    assert.deepEqual(JSON.parse(readFileSync(await download.path(), 'utf8')), saved);
    assert.deepEqual(browser.errors, [], 'no page errors');
  });
}

test('running without an answer skips the question and counts nothing', async () => {
  await page.setViewportSize({ width: 1280, height: 720 });
  await openGallery(page);
  await page.evaluate(() => localStorage.clear());
  await openGallery(page);
  await page.locator('.card[data-preset="seed-tmpfs"] .run-preset').click();
  assert.equal(await runEnded(page), 'done');
  await page.locator('#point').waitFor();
  assert.equal(await page.locator('details#quiz').getAttribute('data-verdict'), 'skipped');
  assert.equal(await page.locator('#verdict').count(), 0, 'no verdict without an answer');
  assert.deepEqual((await progress())?.lessons ?? {}, {}, 'nothing recorded');
  // The question is one click away for the next run.
  await page.locator('details#quiz summary').click();
  assert.equal(await page.locator('details#quiz .choice').count(), 2);
});

test('the composer adds an expectation and the result grades every one', async () => {
  await page.setViewportSize({ width: 1280, height: 720 });
  await openGallery(page);
  await page.locator('.card[data-preset="seed-tmpfs"] button.secondary').click();
  await page.locator('#expect-form').waitFor();
  const before = await page.locator('#expect-form .expect-card').count();
  assert.equal(before, 3, "the lesson's own expectations show in the form");
  await page.locator('#new-expect').selectOption('mount');
  await page.locator('#add-expect').click();
  assert.equal(await page.locator('#expect-form .expect-card').count(), before + 1);
  const spec = JSON.parse(await page.locator('.json-editor textarea').inputValue());
  assert.deepEqual(spec.expect[before], { kind: 'mount', snapshot: 'container after mount', view: 'host', target: '/tmp' });
  await page.locator('#run').click();
  assert.equal(await runEnded(page), 'done');
  const list = page.locator('#expectations');
  await list.waitFor();
  assert.equal(await list.getAttribute('data-failed'), '1');
  assert.match(await list.locator('h3').innerText(), /1 of 4 FAILED/);
  assert.equal(await list.locator('li.held').count(), 3);
  const failed = list.locator(`li.failed[data-index="${before}"]`);
  assert.match(await failed.innerText(), /FAILED host at `container after mount` has mount on \/tmp · the result: host has no mount on \/tmp/);
  await list.scrollIntoViewIfNeeded();
  await shot(page, 'quiz-composer-expectations');
});
