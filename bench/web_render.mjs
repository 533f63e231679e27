// SPDX-License-Identifier: MIT
// Part of bench_web: the page's time to first render in Chromium. Unlocks
// once through the page, then loads the inbox five times with the session
// (each time once the page is quiet)
// and takes the time from navigation start to the first message rows in the
// DOM (performance.now() in the page). Prints {"render_ms": median, ...}.
import { chromium } from 'playwright-core';

const [url, pass] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(url);
  await page.getByLabel('Passphrase').fill(pass);
  await page.getByRole('button', { name: 'Unlock' }).click();
  await page.locator('#rows li.row').first().waitFor({ timeout: 60000 });
  const times = [];
  for (let i = 0; i < 5; i++) {
    // start from a quiet page, as a person reloading would: the previous
    // load's folder counts and pollers have answered
    await page.waitForLoadState('networkidle');
    // a real load (a goto that changes only the hash would not reload)
    await page.goto('about:blank');
    await page.goto(`${url}#/mail/INBOX`, { waitUntil: 'commit' });
    const ms = await page.waitForFunction(() => (document.querySelector('#rows li.row') ? performance.now() : 0), null, { timeout: 60000, polling: 'raf' });
    times.push(await ms.jsonValue());
  }
  const slow = await page.evaluate(() => performance.getEntriesByType('resource')
    .map((r) => ({ url: r.name.replace(location.origin, ''), start: Math.round(r.startTime), ms: Math.round(r.duration) }))
    .sort((a, b) => a.start - b.start).slice(0, 16));
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ render_ms: times[2], runs_ms: times, requests_last_run: slow }));
} finally {
  await browser.close();
}
