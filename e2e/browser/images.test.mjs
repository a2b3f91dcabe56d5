// The Images page (issue 9, part 4): the layer view of a real 3-layer image built with umoci
// (frontend/tests/fixtures/make_image.sh: busybox-static and files; a whiteout; an opaque
// directory), at 1280x720 and 390x844, reached from the main screen and by a deep link.
// Screenshots: e2e/screenshots/images-{1280,390}.png.
//
// The live server's store holds the image (e2e/browser/images.sh imports it, and a 10,100-entry
// one, before run.sh starts the server); busybox-layerview.json, `layer_view`'s own output on the
// same image's listing (`cargo test -p rootlab-frontend layer_view_fixture` checks it), gives the
// expected figures.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { launch, BASE, shot } from './lib.mjs';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'frontend', 'tests', 'fixtures');
const VIEW = JSON.parse(readFileSync(join(fixtures, 'busybox-layerview.json'), 'utf8'));
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
// A name with a registry path and a tag: `/` and `:` must be encoded in the URL.
const NAME = 'library/busybox-demo:v1';
const ENCODED = 'library%2Fbusybox-demo%3Av1';
let browser;
let page;
const asked = [];

/** The layer views the page asks the server for, in order. */
function track(p) {
  p.on('request', (req) => {
    const path = new URL(req.url()).pathname;
    if (path.startsWith('/api/v1/images/') && path.endsWith('/layers')) asked.push(path);
  });
}

before(async () => {
  browser = await launch();
  page = await browser.page();
  track(page);
});
after(async () => browser?.close());

const ready = () => page.locator('main.images-page[data-images="ready"]').waitFor();
const row = (i) => page.locator(`.layer-table tr.layer-row[data-layer="${i}"]`);

async function violations(p = page) {
  await p.addScriptTag({ content: axeSource });
  const result = await p.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => ['serious', 'critical'].includes(v.impact))
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}

test('the Images tab lists the images, opens one by its encoded name, and Back returns', async () => {
  await page.goto(`${BASE}/`);
  await page.locator('main[data-presets="ready"]').waitFor();
  await page.locator('#tab-images').click();
  await ready();
  assert.equal(new URL(page.url()).hash, '#images');
  assert.ok(await page.locator('.image-pick').count() >= 4, 'the built-ins and the two test images');
  await page.locator(`.image-pick[data-image="${NAME}"]`).click();
  await ready();
  await page.locator('.layer-table').waitFor();
  assert.equal(new URL(page.url()).hash, `#images/${ENCODED}`);
  assert.equal(asked.at(-1), `/api/v1/images/${ENCODED}/layers`);
  assert.equal(await page.locator(`.image-pick[data-image="${NAME}"]`).getAttribute('aria-current'), 'true');
  await page.goBack();
  await page.waitForFunction(() => location.hash === '#images' && !document.querySelector('.layer-table'));
  await page.locator('#tab-lessons').click();
  await page.locator('main[data-presets="ready"]').waitFor();
  assert.equal(await page.locator('.images-page').count(), 0);
  assert.deepEqual(browser.errors, []);
});

for (const size of [{ width: 1280, height: 720 }, { width: 390, height: 844 }]) {
  test(`the layer view of a real image at ${size.width}x${size.height}`, async () => {
    await page.setViewportSize(size);
    await page.goto(`${BASE}/#images/${ENCODED}`);
    await page.reload();
    await ready();
    await page.locator('.layer-table').waitFor();

    // The rows: topmost first, with +added ~modified −deleted.
    const order = await page.locator('.layer-table tr.layer-row').evaluateAll((rs) => rs.map((r) => r.dataset.layer));
    assert.deepEqual(order, ['2', '1', '0']);
    const counts = async (i) => (await row(i).locator('.lt-counts .count').allInnerTexts()).join(' ');
    assert.equal(await counts(0), '+18 ~0 −0');
    assert.equal(await counts(1), '+0 ~1 −1');
    assert.equal(await counts(2), '+0 ~1 −2');
    assert.match(await row(2).locator('.lt-counts .badge.opaque-badge').innerText(), /opaque 1/);
    assert.equal(await row(1).locator('.lt-step').getAttribute('title'), VIEW.layers[1].created_by, 'the whole step on hover');

    // Efficiency and wasted bytes at the top.
    assert.equal(await page.locator('.lv-efficiency').getAttribute('data-efficiency'), VIEW.efficiency.toFixed(4));
    assert.match(await page.locator('.lv-efficiency').innerText(), /86\.9% efficiency/);
    assert.equal(Number(await page.locator('.lv-wasted').getAttribute('data-wasted')), VIEW.wasted_bytes);
    assert.match(await page.locator('.lv-wasted').innerText(), /293 KB wasted of 2\.2 MB shipped/);

    // Layer 1: the deleted package cache, struck, as a whiteout.
    await row(1).locator('.layer-pick').click();
    const changes = page.locator('.layer-changes[data-layer="1"]');
    await changes.waitFor();
    assert.equal(await row(1).locator('.layer-pick').getAttribute('aria-pressed'), 'true');
    const gone = changes.locator('tr.removed[data-path="var/cache/apt/pkgcache.bin"]');
    assert.ok(await gone.locator('.entry.ghost .badge.ghost-badge').isVisible(), 'marked as a whiteout');
    const struck = await gone.locator('.name').evaluate((n) => getComputedStyle(n).textDecorationLine);
    assert.match(struck, /line-through/);
    assert.equal(await changes.locator('tr.changed[data-path="etc/motd"]').count(), 1);

    // Layer 2: the opaque directory marked, what it hid deleted (struck, not a whiteout).
    await row(2).locator('.layer-pick').click();
    const top = page.locator('.layer-changes[data-layer="2"]');
    await top.waitFor();
    assert.ok(await top.locator('tr[data-path="opt/app"] .entry.opaque .badge.opaque-badge').isVisible());
    const hidden = top.locator('tr.removed[data-path="opt/app/data"]');
    assert.equal(await hidden.count(), 1);
    assert.equal(await hidden.locator('.ghost-badge').count(), 0);
    assert.match(await hidden.locator('.name').evaluate((n) => getComputedStyle(n).textDecorationLine), /line-through/);

    // The merged tree: each file's source layer; what went is not there.
    const merged = page.locator('.merged-view');
    const source = (p) => merged.locator(`tr[data-path="${p}"] .badge.layer`).innerText();
    assert.equal(await source('bin/busybox'), '0');
    assert.equal(await source('etc/motd'), '1');
    assert.equal(await source('opt/app/config'), '2');
    assert.equal(await merged.locator('tr[data-path="opt/app/data"]').count(), 0);
    assert.equal(await merged.locator('tr[data-path="var/cache/apt/pkgcache.bin"]').count(), 0);
    assert.match(await merged.locator('tr[data-path="bin"] .below').innerText(), /5 entries/);

    // Fits the width; nothing scrolls sideways.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the ${size.width}px viewport`);
    await page.locator('.wasted-files summary').click();
    assert.equal(await page.locator('.wasted-table tbody tr').first().getAttribute('data-path'), 'var/cache/apt/pkgcache.bin');
    await shot(page, `images-${size.width}`);
    assert.deepEqual(await violations(), []);
    assert.deepEqual(browser.errors, []);
  });
}

test('10,100 entries: directories start collapsed with their counts, long change lists are virtualized', async (t) => {
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.goto(`${BASE}/#images/big%3A10k`);
  const start = Date.now();
  await page.reload();
  await ready();
  await page.locator('.merged-view tr.row').first().waitFor();
  t.diagnostic(`reload to the layer view of 10,100 entries drawn: ${Date.now() - start} ms`);

  // The figure of docs/benchmarks.md: from a click on the image (app loaded) to its layer view
  // drawn: the server's layer_view over the store's listing, the transfer, the page's render.
  await page.goto(`${BASE}/#images`);
  await page.locator('.image-pick[data-image="big:10k"]').waitFor();
  const clicked = Date.now();
  await page.locator('.image-pick[data-image="big:10k"]').click();
  await page.locator('.merged-view tr[data-path="d00"]').waitFor();
  t.diagnostic(`click to the layer view of 10,100 entries drawn: ${Date.now() - clicked} ms`);

  const merged = page.locator('.merged-view');
  assert.equal(await merged.locator('tr.row').count(), 99, 'one row per directory, collapsed');
  assert.match(await merged.locator('tr[data-path="d00"] .below').innerText(), /100 entries/);
  await merged.locator('tr[data-path="d00"] button.twisty').click();
  await merged.locator('tr[data-path="d00/f099"]').waitFor();
  assert.equal(await merged.locator('tr.row').count(), 199);

  await row(0).locator('.layer-pick').click();
  const changes = page.locator('.layer-changes[data-layer="0"]');
  await changes.waitFor();
  assert.match(await changes.locator('.diff-summary').innerText(), /10100 added/);
  assert.ok(await changes.locator('tr.row').count() < 100, 'only the rows in view are in the DOM');
  await changes.locator('.tree-scroll.virtual').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await changes.locator('tr[data-path="d99/f099"]').waitFor();
  assert.deepEqual(browser.errors, []);
});

test('a container\'s writable layer, committed in a run, shows as the top row over its image', async () => {
  await page.setViewportSize({ width: 1280, height: 720 });
  // docker run of the demo image, changes, docker commit (this server keeps no commits: the step
  // still lists the layer).
  const spec = {
    version: 1,
    title: 'a writable layer',
    steps: [
      { op: 'container', name: 'app', image: NAME },
      { op: 'run', in: 'app', argv: ['/bin/sh', '-c', 'echo v3 > /opt/app/config; rm /etc/hostname; echo new > /etc/app.conf'] },
      { op: 'commit', container: 'app', name: 'demo/committed:1' },
    ],
  };
  const link = Buffer.from(deflateRawSync(Buffer.from(JSON.stringify(spec)), { level: 9 })).toString('base64url');
  await page.goto(`${BASE}/#spec=${link}&run=1`);
  const show = page.locator('.committed button.show-upper');
  await show.waitFor();
  await show.scrollIntoViewIfNeeded();
  assert.match(await show.innerText(), new RegExp(`over ${NAME}`));
  await show.click();
  await ready();
  await page.locator('.layer-table').waitFor();
  assert.equal(new URL(page.url()).hash, `#images/${ENCODED}`);
  // Topmost first: the writable layer (W), then the image's three.
  const order = await page.locator('.layer-table tr.layer-row').evaluateAll((rs) => rs.map((r) => r.dataset.layer));
  assert.deepEqual(order, ['3', '2', '1', '0']);
  const top = row(3);
  assert.equal(await top.getAttribute('class').then((c) => c.includes('upper')), true);
  // Added: etc/app.conf, and the mount points /proc and /dev the runtime made (as docker's init
  // layer does); changed: opt/app/config; deleted: etc/hostname.
  assert.equal((await top.locator('.lt-counts .count').allInnerTexts()).join(' '), '+3 ~1 −1');
  await top.locator('.layer-pick').click();
  const changes = page.locator('.layer-changes[data-layer="3"]');
  await changes.waitFor();
  assert.equal(await changes.locator('tr.removed[data-path="etc/hostname"]').count(), 1);
  assert.equal(await changes.locator('tr.changed[data-path="opt/app/config"]').count(), 1);
  await shot(page, 'images-upper-1280');
  assert.deepEqual(browser.errors, []);
});

test('no serious or critical axe violations in the dark colour scheme', async () => {
  const dark = await launch({ colorScheme: 'dark' });
  try {
    const p = await dark.page();
    await p.goto(`${BASE}/#images/${ENCODED}`);
    await p.locator('main.images-page[data-images="ready"] .layer-table').waitFor();
    await p.locator('.layer-table tr.layer-row[data-layer="1"] .layer-pick').click();
    await p.locator('.wasted-files summary').click();
    assert.deepEqual(await violations(p), []);
    assert.deepEqual(dark.errors, []);
  } finally {
    await dark.close();
  }
});
