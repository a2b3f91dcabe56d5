// The first screen after ▶ Run, on a laptop (1280x720) and a phone (390x844): each lesson's
// evidence is inside the viewport without scrolling, the card's sentence names it, focus is on
// the card, and the default comparison shows no false "removed". Screenshots of that first
// screen (not the full page) go to e2e/screenshots/first-screen-<id>-<width>.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { launch, api, openGallery, runEnded, SCREENSHOTS } from './lib.mjs';

let browser;
let page;
let presets;

before(async () => {
  presets = await api('/presets');
  browser = await launch();
  page = await browser.page();
});
after(async () => browser?.close());

const text = async (page, selector) => (await page.locator(selector).first().innerText()).trim();

/**
 * Per lesson: the evidence elements that must be on the first screen, and what the sentence
 * must name (read off the evidence itself where it can be, so the two cannot drift apart).
 */
const EVIDENCE = {
  'seed-inherit': {
    show: ['.ev-box.listing[data-actor="c1"]', '.ev-box.listing[data-actor="host"]'],
    async names(page) {
      const n = (await page.locator('.ev-box.listing[data-actor="c1"] .ev-names li').count());
      assert.equal(n, await page.locator('.ev-box.listing[data-actor="host"] .ev-names li').count(), 'the same entries on both sides');
      return [`same ${n} entries`, '/tmp'];
    },
  },
  'seed-tmpfs': {
    show: ['.ev-box.listing[data-actor="c1"] .ev-empty', '.ev-box.listing[data-actor="host"]'],
    async names(page) {
      assert.equal(await text(page, '.ev-box.listing[data-actor="c1"] .ev-empty'), '(empty directory)');
      return ["c1's /tmp is empty", 'tmpfs'];
    },
  },
  'seed-propagation-leak': {
    show: ['.ev-mounts tr.leak[data-target="/tmp"]', '.ev-mounts tr.absent[data-target="/tmp"]'],
    async names(page) {
      assert.match(await text(page, '.ev-mounts tr.leak'), /host after exit[\s\S]*\/tmp[\s\S]*leaked[\s\S]*tmpfs/);
      return ['Leaked', '/tmp', 'shared'];
    },
    tone: 'bad',
  },
  'seed-propagation-private': {
    show: ['.ev-mounts tr.present[data-target="/tmp"]', '.ev-mounts tr.absent[data-target="/tmp"]'],
    async names(page) {
      assert.equal(await page.locator('.ev-mounts tr.leak').count(), 0);
      return ['Nothing leaked', '/tmp', '--make-rprivate'];
    },
    tone: 'good',
  },
  'seed-propagation-slave': {
    show: ['.ev-mounts tr.present[data-target="/mnt/data"]', '.ev-mounts tr.absent[data-target="/tmp"]'],
    async names(page) {
      assert.match(await text(page, '.ev-mounts tr[data-target="/mnt/data"]'), /c1[\s\S]*master:\d+/, 'it came from a master');
      return ['Nothing leaked', '/mnt/data did reach c1'];
    },
    tone: 'good',
  },
  'propagation-userns': {
    show: ['.ev-attempts .attempt.refused[data-actor="c1"]', '.ev-mounts tr.present[data-target="/mnt/late"]', '.ev-mounts tr.absent[data-target="/tmp"]'],
    async names(page) {
      assert.match(await text(page, '.ev-attempts .attempt.refused'), /umount \/mnt\/data[\s\S]*EINVAL/);
      assert.match(await text(page, '.ev-mounts tr[data-target="/mnt/late"]'), /c1[\s\S]*master:\d+/, 'it arrived as a slave');
      return ['user namespace', 'private,slave', '/mnt/late reached it', 'umount /mnt/data failed with EINVAL', 'locked'];
    },
    tone: 'good',
  },
  'bind-rslave': {
    show: ['.ev-mounts tr.present[data-target="/vol/in"]', '.ev-mounts tr.absent[data-target="/priv/in"]', '.ev-mounts tr.absent[data-target="/data/out"]'],
    async names(page) {
      assert.match(await text(page, '.ev-mounts tr[data-target="/vol/in"]'), /c1[\s\S]*master:\d+/, 'it came from a master');
      return ['arrived at /vol/in', '/priv (private) has no mount there', '/vol/out did not go back'];
    },
    tone: 'good',
  },
  'move-mount': {
    show: ['.ev-attempts .attempt.refused', '.ev-attempts .attempt.done', '.ev-mounts tr.present[data-target="/mnt/new"]'],
    async names(page) {
      assert.match(await text(page, '.ev-attempts .attempt.refused'), /mount --move \/mnt\/old \/mnt\/new[\s\S]*EINVAL/);
      return ['failed with EINVAL', "parent / was shared", 'mount --make-rprivate /', 'tmpfs is now on /mnt/new'];
    },
    // A move is a true removal: the file left /mnt/old with its mount.
    removed: 1,
  },
  'background-watch': {
    show: ['.ev-box.output[data-actor="c1"] .ev-stdout'],
    async names(page) {
      assert.match(await text(page, '.ev-stdout'), /is not a mountpoint\n\/mnt\/x is a mountpoint\n.* \/mnt\/x .*shared:\d+/);
      return ['already running when the host mounted on /mnt/x', 'saw the mount arrive'];
    },
  },
  'overlay-options': {
    show: ['.ev-attempts .attempt.done', '.ev-attempts .attempt.refused'],
    async names(page) {
      assert.match(await text(page, '.ev-attempts .attempt.done'), /volatile[\s\S]*OK[\s\S]*fsync=volatile/);
      assert.match(await text(page, '.ev-attempts .attempt.refused'), /metacopy=on[\s\S]*EINVAL[\s\S]*user namespace/);
      return ['took volatile', 'fsync=volatile', 'metacopy=on', 'EINVAL'];
    },
  },
  'seed-chroot': {
    show: ['.ev-box.output .ev-stdout'],
    async names(page) {
      assert.equal((await text(page, '.ev-stdout')).split(/\s+/).join(' '), 'bin lib lib64');
      return ['bin, lib and lib64'];
    },
  },
  'seed-chroot-missing-lib': {
    show: ['.ev-box.refused'],
    async names(page) {
      assert.match(await text(page, '.ev-box.refused'), /ENOENT[\s\S]*No such file or directory/);
      return ['ENOENT', 'loader'];
    },
    tone: 'bad',
  },
  'seed-kernel': {
    show: ['.ev-box.output[data-actor="c1"]', '.ev-box.output[data-actor="host"]'],
    async names(page) {
      const release = (s) => s.trim().split(/\s+/).pop();
      const c1 = release(await text(page, '.ev-box.output[data-actor="c1"] .ev-stdout'));
      assert.equal(release(await text(page, '.ev-box.output[data-actor="host"] .ev-stdout')), c1, 'one kernel release');
      return ['same kernel release', c1, 'no kernel image'];
    },
  },
  'seed-union': {
    show: ['.ev-entries li[data-path="x"] .badge.layer'],
    async names(page) {
      assert.equal(await text(page, '.ev-entries li[data-path="x"] .badge.layer'), 'A');
      return ['x comes from A'];
    },
  },
  'seed-layers': {
    show: ['.ev-entries li.ghost', '.ev-entries li.opaque'],
    async names(page) {
      const ghost = await text(page, '.ev-entries li.ghost .name');
      return [`${ghost} deleted`, 'whiteout', 'opaque'];
    },
  },
  'image-layers': {
    show: ['.ev-entries li.ghost', '.ev-entries li.opaque'],
    async names(page) {
      assert.equal(await text(page, '.ev-entries li.ghost .name'), 'etc/issue');
      return ['/layers/app.upper', 'etc/issue deleted', 'usr/share/doc/apt re-created'];
    },
  },
  'pivot-vs-chroot': {
    show: ['.ev-box.escaped', '.ev-box.contained'],
    async names(page) {
      assert.match(await text(page, '.ev-box.escaped'), /Escaped[\s\S]*chroot/);
      assert.match(await text(page, '.ev-box.contained'), /Contained[\s\S]*pivot_root/);
      return ['gets out of chroot', 'stays in after pivot_root'];
    },
  },
};

/** Where each legend mark shows in the comparison. */
const MARKED = {
  added: '.tree tr.added, .findmnt tr.added',
  removed: '.tree tr.removed, .findmnt tr.removed',
  changed: '.tree tr.changed, .findmnt tr.changed',
  hidden: '.tree tr.hidden',
  'not-captured': '.tree tr.not-captured',
  ghost: '.tree .entry.ghost',
  opaque: '.tree .entry.opaque',
  leak: '.findmnt tr.leak',
  layer: '.tree .badge.layer',
};

/** Names only the course's authors and rootlab's own code use. */
const INTERNAL = /\bthe seed\b|\bseed's\b|\bns\.c\b|luoahong|\blab host\b|\bengine\b/i;

/** The element's box lies inside the viewport (what a person sees without scrolling). */
async function assertOnFirstScreen(page, selector, size) {
  const box = await page.locator(selector).first().boundingBox();
  assert.ok(box, `${selector} is rendered`);
  const inside = box.x >= 0 && box.y >= 0 && box.x + box.width <= size.width + 0.5 && box.y + box.height <= size.height + 0.5;
  assert.ok(inside, `${selector} at ${JSON.stringify(box)} is outside the ${size.width}x${size.height} viewport`);
}

for (const size of [{ width: 1280, height: 720 }, { width: 390, height: 844 }]) {
  test(`every lesson's evidence is on the first screen at ${size.width}x${size.height}`, async (t) => {
    await page.setViewportSize(size);
    for (const p of presets) {
      await t.test(p.id, async () => {
        const want = EVIDENCE[p.id];
        assert.ok(want, `a check of what ${p.id} must show`);
        await openGallery(page);
        await page.locator(`.card[data-preset="${p.id}"] .run-preset`).click();
        assert.equal(await runEnded(page), 'done');
        await page.locator('#point').waitFor();
        assert.equal(await page.evaluate(() => document.activeElement?.id), 'point', 'focus moved to the card');
        await page.screenshot({ path: join(SCREENSHOTS, `first-screen-${p.id}-${size.width}.png`) });
        for (const selector of ['.point-sentence', ...want.show]) await assertOnFirstScreen(page, selector, size);
        const sentence = await text(page, '.point-sentence');
        for (const name of await want.names(page)) assert.ok(sentence.includes(name), `the sentence names ${JSON.stringify(name)}: ${sentence}`);
        if (want.tone) assert.ok(await page.locator(`.point.${want.tone}`).count(), `the card reads ${want.tone}`);
        const removed = await page.locator('.diff-summary .count.removed').innerText();
        assert.equal(removed.trim(), `${want.removed ?? 0} removed`, 'no false "removed" in the default comparison');
        assert.equal(await page.locator('.findmnt tr.removed').count(), want.removed ?? 0, 'no mount row shown as removed');
        for (const mark of await page.locator('.legend li').evaluateAll((li) => li.map((l) => l.dataset.mark))) {
          assert.ok(await page.locator(MARKED[mark]).count() > 0, `the legend explains "${mark}", which the comparison shows`);
        }
        assert.equal(await page.locator('.lesson[open]').count(), 0, 'the full explanation is folded, one click away');
        await page.locator('.lesson summary').click();
        const shown = await page.locator('.right').innerText();
        assert.doesNotMatch(shown, INTERNAL, `no course-internal name on screen: ${shown.match(INTERNAL)?.[0]} in …${shown.slice(Math.max(0, shown.search(INTERNAL) - 80), shown.search(INTERNAL) + 40)}…`);
      });
    }
    assert.deepEqual(browser.errors, [], 'no page errors');
  });
}

test('the full explanation opens from the card', async () => {
  await page.setViewportSize({ width: 1280, height: 720 });
  await openGallery(page);
  await page.locator('.card[data-preset="seed-propagation-leak"] .run-preset').click();
  assert.equal(await runEnded(page), 'done');
  await page.locator('#point .why-link').click();
  assert.equal(await page.locator('.lesson[open]').count(), 1);
  assert.match(await page.locator('.lesson').innerText(), /MS_PRIVATE|make-rprivate|private/);
});

test('a term in the card opens its meaning, and Escape closes it', async () => {
  await page.setViewportSize({ width: 1280, height: 720 });
  await openGallery(page);
  await page.locator('.card[data-preset="seed-layers"] .run-preset').click();
  assert.equal(await runEnded(page), 'done');
  const term = page.locator('.point-sentence button.term', { hasText: 'whiteout' });
  await term.click();
  const pop = page.locator('#g-point-whiteout');
  assert.ok(await pop.evaluate((el) => el.matches(':popover-open')), 'the meaning is open');
  assert.match(await pop.innerText(), /hides a file deleted from a lower layer/);
  await page.keyboard.press('Escape');
  assert.ok(!(await pop.evaluate((el) => el.matches(':popover-open'))), 'Escape closes it');
});

test('the PROPAGATION column says what shared:N and master:N mean', async () => {
  await openGallery(page);
  await page.locator('.card[data-preset="seed-propagation-slave"] .run-preset').click();
  assert.equal(await runEnded(page), 'done');
  await page.locator('.ev-mounts th button.term').click();
  assert.match(await page.locator('#g-point-propagation').innerText(), /shared:N[\s\S]*master:N/);
  await page.keyboard.press('Escape');
});

test('keyboard only: Tab to a lesson\'s Run, Enter, and focus lands on the result', async () => {
  await page.setViewportSize({ width: 1280, height: 720 });
  await openGallery(page);
  const target = page.locator('.card[data-preset="seed-kernel"] .run-preset');
  let tabs = 0;
  while (!(await target.evaluate((el) => el === document.activeElement)) && tabs < 80) {
    await page.keyboard.press('Tab');
    tabs += 1;
  }
  assert.ok(tabs < 80, 'the Run button is reachable with Tab');
  await page.keyboard.press('Enter');
  assert.equal(await runEnded(page), 'done');
  await page.locator('#point').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'point');
  await page.keyboard.press('Tab');
  const next = await page.evaluate(() => document.activeElement?.closest('#point, .lesson, #results')?.id);
  assert.ok(['point', 'lesson', 'results'].includes(next), `the next Tab stays in the result (${next})`);
});
