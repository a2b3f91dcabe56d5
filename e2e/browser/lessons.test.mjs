// Every lesson runs from the gallery against the live server and shows its point on screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, api, openGallery, runEnded, shot } from './lib.mjs';

let browser;
let page;
let presets;

before(async () => {
  presets = await api('/presets');
  browser = await launch();
  page = await browser.page();
});
after(async () => browser?.close());

test('the gallery lists every preset from the API with its title and summary', async () => {
  assert.ok(presets.length >= 9, `the seed lessons are served (got ${presets.length})`);
  await openGallery(page);
  const cards = page.locator('.gallery .card');
  assert.equal(await cards.count(), presets.length);
  for (const p of presets) {
    const card = page.locator(`.card[data-preset="${p.id}"]`);
    assert.equal((await card.locator('h3').innerText()).replace(/^\d+/, '').trim(), p.title);
    assert.ok((await card.locator('.blurb').innerText()).length > 10, `${p.id} has a summary`);
  }
  await shot(page, 'gallery');
});

/** What each lesson must show once run: checked on the rendered page, not on JSON. */
const POINTS = {
  async 'seed-inherit'(page) {
    // host vs container: same files, same mounts.
    assert.ok(await page.locator('.tree tr.row').count() > 0, 'the tree has rows');
    assert.equal(await page.locator('.tree tr.added, .tree tr.removed, .tree tr.hidden').count(), 0, 'container /tmp equals host /tmp');
    assert.equal(await page.locator('.findmnt tr.added, .findmnt tr.removed').count(), 0, 'same mounts');
  },
  async 'seed-tmpfs'(page) {
    assert.ok(await page.locator('.findmnt tr[data-target="/tmp"]').count() > 0, 'a /tmp mount row');
    assert.ok(await page.locator('.findmnt tr.added[data-target="/tmp"]').count() > 0, 'the tmpfs is new on one side');
    assert.equal(await page.locator('.findmnt tr.leak').count(), 0, 'no leak');
    // The course's `rw,relatime`, with the sandbox's own options set apart.
    const options = page.locator('.findmnt tr.added[data-target="/tmp"] td.options').first();
    assert.match(await options.innerText(), /^rw,relatime \+size=16384k,nr_inodes=4096/);
    assert.match(await options.locator('.added-options').innerText(), /^ ?\+size=/);
  },
  async 'seed-propagation-leak'(page) {
    const leaked = page.locator('.findmnt tr.leak[data-target="/tmp"]');
    assert.ok(await leaked.count() > 0, 'the leaked tmpfs row is highlighted');
    assert.match(await page.locator('.leak-callout').first().innerText(), /Leaked: \/tmp was mounted by container/);
    // The highlighted table is the host's.
    const table = leaked.first().locator('xpath=ancestor::div[contains(@class,"mount-table")]/h4');
    assert.match(await table.innerText(), /host/);
  },
  async 'seed-propagation-private'(page) {
    assert.equal(await page.locator('.findmnt tr.leak').count(), 0, 'nothing leaks');
    assert.equal(await page.locator('.leak-callout').count(), 0);
    // Host before vs after exit: the same table, and a green verdict says so.
    assert.equal(await page.locator('.findmnt tr.added, .findmnt tr.removed').count(), 0, "the host's table is unchanged");
    assert.match(await page.locator('.noleak-callout').innerText(), /Nothing leaked: c1's mount on \/tmp/);
  },
  async 'seed-propagation-slave'(page) {
    // Host vs c1 once both mounted: the host's /mnt/data is in both tables, c1's /tmp only in c1's.
    assert.equal(await page.locator('.findmnt tr[data-target="/mnt/data"]').count(), 2, "the host's mount reached c1");
    assert.ok(await page.locator('.findmnt tr.added[data-target="/tmp"]').count() > 0, "c1's own mount is in c1's table only");
    assert.equal(await page.locator('.findmnt tr.leak').count(), 0, 'nothing leaks from a slave');
  },
  async 'propagation-userns'(page) {
    // Host vs c1: the host's later /mnt/late is in both tables, the umount of an inherited mount refused.
    assert.equal(await page.locator('.findmnt tr[data-target="/mnt/late"]').count(), 2, "the host's later mount reached c1");
    assert.equal(await page.locator('.findmnt tr.leak').count(), 0, 'nothing leaks from the rootless container');
    assert.equal((await page.locator('.tl-step.err[data-op="umount"] .verdict').innerText()).trim(), 'EINVAL');
  },
  async 'bind-rslave'(page) {
    assert.equal(await page.locator('.findmnt tr[data-target="/data/in"]').count(), 2, 'the host mount, and its copy in c1');
    assert.ok(await page.locator('.findmnt tr.added[data-target="/vol/in"]').count() > 0, 'it arrived under the slave bind');
    assert.equal(await page.locator('.findmnt tr[data-target="/priv/in"]').count(), 0, 'not under the private one');
    assert.equal(await page.locator('.findmnt tr.leak').count(), 0);
  },
  async 'move-mount'(page) {
    assert.equal((await page.locator('.tl-step.err[data-op="move"] .verdict').innerText()).trim(), 'EINVAL');
    assert.equal(await page.locator('.tl-step.ok[data-op="move"]').count(), 1, 'the same move, once / is private');
    assert.ok(await page.locator('.findmnt tr.added[data-target="/mnt/new"]').count() > 0, 'the mount is on /mnt/new after');
  },
  async 'background-watch'(page) {
    assert.match(await page.locator('.tl-step[data-op="wait"]').innerText(), /is not a mountpoint\s+\/mnt\/x is a mountpoint/);
  },
  async 'overlay-options'(page) {
    assert.equal((await page.locator('.tl-step.err[data-op="overlay"] .verdict').innerText()).trim(), 'EINVAL');
    assert.match(await page.locator('.tl-step.err[data-op="overlay"]').innerText(), /metacopy=on/);
    assert.match(await page.locator('.timeline').innerText(), /fsync=volatile/);
  },
  async 'seed-chroot-missing-lib'(page) {
    const failed = page.locator('.tl-step.err[data-op="run"]');
    assert.equal((await failed.locator('.verdict').innerText()).trim(), 'ENOENT');
    assert.match(await failed.locator('.step-error').innerText(), /No such file or directory[\s\S]*loader|interpreter/i);
  },
  async 'seed-chroot'(page) {
    assert.ok(await page.locator('.copied tbody tr').count() >= 3, 'copied files are listed with why');
    assert.match(await page.locator('.copied').first().innerText(), /ldd/);
    assert.match(await page.locator('.timeline').innerText(), /bin\s+lib\s+lib64|bin\nlib\nlib64/);
  },
  async 'seed-kernel'(page) {
    const kernel = (await page.locator('.result-head .kernel').innerText()).trim();
    assert.ok(kernel.length > 0);
    assert.match(await page.locator('.terminal .stdout').allInnerTexts().then((t) => t.join('\n')), new RegExp(kernel.replace(/[.+]/g, '\\$&')));
  },
  async 'seed-union'(page) {
    const x = page.locator('.tree tr[data-path="x"]').first();
    assert.ok(await x.count() > 0, 'x is in the merged tree');
    assert.equal((await x.locator('.badge.layer').last().innerText()).trim(), 'A', 'x comes from A');
  },
  async 'seed-layers'(page) {
    // The writable layer as stored: the deleted file is a ghost (whiteout), the re-created
    // directory is opaque, the changed file was copied up.
    assert.ok(await page.locator('.tree .entry.ghost').count() > 0, 'a whiteout shown as a ghost entry');
    assert.ok(await page.locator('.tree .entry.opaque').count() > 0, 'an opaque directory marked');
    assert.ok(await page.locator('.tree .badge.layer').count() > 0, 'merged entries name their layer');
  },
  async 'image-layers'(page) {
    // docker run of the three-layer Debian: the container's writes, all in its writable layer.
    assert.match(await page.locator('.terminal .stdout').allInnerTexts().then((t) => t.join('\n')), /Debian GNU\/Linux 12[\s\S]*\/etc\/debian_version is not here/);
    assert.ok(await page.locator('.tree .entry.ghost').count() > 0, 'the deleted /etc/issue shown as a whiteout');
    assert.ok(await page.locator('.tree .entry.opaque').count() > 0, 'the re-created directory marked opaque');
  },
  async 'pivot-vs-chroot'(page) {
    assert.ok(await page.locator('.escape.escaped').count() > 0, 'the chroot escape succeeds');
    assert.ok(await page.locator('.escape.contained').count() > 0, 'the pivot_root escape fails');
  },
};

test('every lesson runs from the gallery and shows its point', async (t) => {
  for (const p of presets) {
    await t.test(p.id, async () => {
      await openGallery(page);
      await page.locator(`.card[data-preset="${p.id}"] .run-preset`).click();
      const state = await runEnded(page);
      assert.equal(state, 'done', await page.locator('.run-status').innerText());
      await page.locator('#results').waitFor();
      assert.match(await page.locator('.lesson summary').innerText(), new RegExp(p.title.replace(/[()[\].*+?^$|\\]/g, '\\$&')));
      await shot(page, `lesson-${p.id}`);
      const check = POINTS[p.id];
      assert.ok(check, `a check of what ${p.id} must show`);
      await check(page);
    });
  }
  assert.deepEqual(browser.errors, [], 'no page errors');
});
