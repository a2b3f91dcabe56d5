// Shared helpers of the browser tests: Debian's chromium driven by playwright-core, a fresh
// profile per browser, and the live server's URL (set by run.sh).
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = process.env.ROOTLAB_URL ?? 'http://127.0.0.1:7878';
export const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'screenshots');
mkdirSync(SCREENSHOTS, { recursive: true });

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** A browser on a fresh, throw-away profile; `close()` removes the profile too. */
export async function launch({ colorScheme = 'light' } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'rootlab-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ARGS,
    headless: true,
    viewport: { width: 1280, height: 720 },
    colorScheme,
  });
  const errors = [];
  context.on('page', (page) => watch(page, errors));
  context.pages().forEach((page) => watch(page, errors));
  return {
    context,
    errors,
    async page() {
      const page = context.pages()[0] ?? (await context.newPage());
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

function watch(page, errors) {
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
}

export async function api(path, init) {
  const r = await fetch(`${BASE}/api/v1${path}`, init);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

/** Open the playground and wait for the lesson gallery. */
export async function openGallery(page) {
  await page.goto(`${BASE}/`);
  await page.locator('main[data-presets="ready"]').waitFor();
}

/** Wait for the run in `page` to end; returns the run bar's state (`done`, `failed`, ...). */
export async function runEnded(page, timeout = 30_000) {
  const status = page.locator('.run-status [data-state]');
  await page.waitForFunction(() => {
    const s = document.querySelector('.run-status [data-state]')?.dataset.state;
    return s && !['running', 'queued', 'waiting'].includes(s);
  }, null, { timeout });
  return status.getAttribute('data-state');
}

export async function shot(page, name) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
