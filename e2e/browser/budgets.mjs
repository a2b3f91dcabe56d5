// Measures the frontend budgets and writes them to docs/frontend.md (between the budgets
// markers): gzipped wasm size, the whole app as served precompressed, first render of the gallery, a 10,000-entry tree diff rendered.
// Figures are reported with their budget, never asserted: timings vary with the machine.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, BASE } from './lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNS = 7;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dist = join(root, 'frontend', 'dist');
const wasmFile = readdirSync(dist).find((f) => f.endsWith('.wasm'));
const wasm = readFileSync(join(dist, wasmFile));
const js = readFileSync(join(dist, readdirSync(dist).find((f) => f.endsWith('.js'))));
const sizes = { wasm: wasm.length, wasmGzip: gzipSync(wasm, { level: 9 }).length, jsGzip: gzipSync(js, { level: 9 }).length };
// The whole app as a server with build.sh's precompressed files sends it: each file's .br
// (else its .gz, else the file itself), as Chromium asks for `br, gzip`.
const appFiles = readdirSync(dist).filter((f) => !/\.(br|gz)$/.test(f));
const served = (f) => ['.br', '.gz', ''].map((ext) => join(dist, f + ext)).find((p) => existsSync(p));
sizes.app = appFiles.reduce((n, f) => n + statSync(served(f)).size, 0);
sizes.appFiles = appFiles.length;

const browser = await launch();
const page = await browser.page();
const gallery = [];
const wasmReady = [];
for (let i = 0; i < RUNS; i++) {
  // A new page each time, cache disabled: a cold first visit.
  const p = await browser.context.newPage();
  const cdp = await browser.context.newCDPSession(p);
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await p.goto(`${BASE}/`);
  await p.waitForFunction(() => document.documentElement.dataset.galleryMs, null, { timeout: 10_000 });
  gallery.push(Number(await p.evaluate(() => document.documentElement.dataset.galleryMs)));
  wasmReady.push(await p.evaluate(() => performance.getEntriesByType('resource').find((e) => e.name.endsWith('.wasm'))?.responseEnd ?? NaN));
  await p.close();
}
const tree = { diffms: [], domms: [], paintms: [] };
for (let i = 0; i < RUNS; i++) {
  await page.goto(`${BASE}/#bench=10000`);
  await page.reload();
  await page.waitForFunction(() => document.getElementById('bench-result')?.dataset.done, null, { timeout: 60_000 });
  for (const k of Object.keys(tree)) tree[k].push(Number(await page.locator('#bench-result').getAttribute(`data-${k}`)));
}
const rows = await page.locator('.tree tr.row').count();
const summary = await page.locator('.diff-summary').innerText();
await browser.close();

const figures = {
  wasmGzipKB: sizes.wasmGzip / 1024,
  appKB: sizes.app / 1024,
  galleryMs: median(gallery),
  wasmLoadedMs: median(wasmReady),
  treeDiffMs: median(tree.diffms),
  treeDomMs: median(tree.domms),
  treePaintMs: median(tree.paintms),
};
const ok = (v, budget) => (v <= budget ? 'within' : '**over**');
const table = [
  '| Figure | Measured (median of ' + RUNS + ') | Budget | |',
  '|---|---|---|---|',
  `| wasm, gzip -9 | ${figures.wasmGzipKB.toFixed(1)} KB (raw ${(sizes.wasm / 1024).toFixed(0)} KB; JS glue ${(sizes.jsGzip / 1024).toFixed(1)} KB gzipped) | 425 KB | ${ok(figures.wasmGzipKB, 425)} |`,
  `| the whole app as served precompressed (${sizes.appFiles} files, brotli where built) | ${figures.appKB.toFixed(1)} KB | 340 KB (316 KB before the Images page) | ${ok(figures.appKB, 340)} |`,
  `| gallery first rendered (navigation start → cards in the DOM, cold cache) | ${figures.galleryMs.toFixed(0)} ms (wasm downloaded at ${figures.wasmLoadedMs.toFixed(0)} ms) | 1000 ms | ${ok(figures.galleryMs, 1000)} |`,
  `| 10,000-entry tree diff: diff computed | ${figures.treeDiffMs.toFixed(0)} ms | | |`,
  `| 10,000-entry tree diff: diff + DOM built (${summary.match(/(\d+) rows open/)?.[1] ?? '?'} rows open, ${rows} in the DOM: the rest are drawn as they scroll into view) | ${figures.treeDomMs.toFixed(0)} ms | 200 ms | ${ok(figures.treeDomMs, 200)} |`,
  `| 10,000-entry tree diff: until painted (two animation frames) | ${figures.treePaintMs.toFixed(0)} ms | | |`,
].join('\n');
const stamp = `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`e2e/browser/run.sh --budgets\` on localhost, Chromium headless, 1280x720.`;
console.log(stamp + '\n' + table);

const doc = join(root, 'docs', 'frontend.md');
const text = readFileSync(doc, 'utf8');
const start = '<!-- budgets:start -->';
const end = '<!-- budgets:end -->';
if (text.includes(start) && text.includes(end)) {
  writeFileSync(doc, text.slice(0, text.indexOf(start) + start.length) + '\n' + stamp + '\n\n' + table + '\n' + text.slice(text.indexOf(end)));
}
