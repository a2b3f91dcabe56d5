import { launch } from './lib.mjs';
const [url, out, action] = process.argv.slice(2);
const b = await launch({ colorScheme: process.env.SCHEME ?? 'light' });
const p = await b.page();
await p.goto(url);
await p.waitForTimeout(800);
if (action === 'run') {
  await p.locator('#run').click();
  await p.waitForFunction(() => ['done','failed','cancelled'].includes(document.querySelector('.run-status [data-state]')?.dataset.state), null, { timeout: 20000 }).catch(() => {});
}
if (action === 'compose') await p.locator('#tab-compose').click();
await p.waitForTimeout(300);
await p.screenshot({ path: out, fullPage: process.env.FULL === '1' });
console.log(b.errors.join('\n'));
await b.close();
