// SPDX-License-Identifier: MIT
// Part of bench_web: the page's time to first render in Chromium. Unlocks
// once through the page, then loads the inbox five times with the session
// (each time once the page is quiet)
// and takes the time from navigation start to the first animation frame
// after message rows came into the DOM (performance.now() in the page). The page
// is watched from its start by a script Chromium runs in every new
// document before the page's own (addInitScript), which says the time on
// the console: a poller that playwright sends after the navigation
// arrives tens of ms late (it timed its own arrival once the rows came
// that fast), and playwright's own script in the page costs the page's
// thread some 20 ms before the page's scripts run. With QM_TRACE=FILE, one more
// load is recorded as a Chromium trace (chrome://tracing, Perfetto) with
// JavaScript samples. Then locks and unlocks three times
// through the page: the time from the Unlock click to the first rows
// (Argon2id included: what a person waits for) and how many times the
// page asked for the list meanwhile (once is right). Prints
// {"render_ms": median, "unlock_to_rows_ms": median, ...}.
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
  // the first frame with rows, from the document's start
  // (a MutationObserver, not a poller at every frame: frames asked for
  // from the start would have Chromium draw the page half built)
  await page.addInitScript(() => {
    if (!location.protocol.startsWith('http')) return;
    const mo = new MutationObserver(() => {
      if (!document.querySelector('#rows li.row')) return;
      mo.disconnect();
      requestAnimationFrame(() => {
        window.qmFirstRows = performance.now();
        console.debug(`qm-first-rows ${window.qmFirstRows}`);
      });
    });
    mo.observe(document, { childList: true, subtree: true });
  });
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
    const said = page.waitForEvent('console', { predicate: (m) => m.text().startsWith('qm-first-rows '), timeout: 60000 });
    await page.goto(`${url}#/mail/INBOX`, { waitUntil: 'commit' });
    times.push(parseFloat((await said).text().split(' ')[1]));
  }
  // where the last load's time went: the document (navigation timing),
  // every request after it in the order they started (cached: answered
  // by the browser's cache), and the page's start
  const slow = await page.evaluate(() => performance.getEntriesByType('resource')
    .map((r) => ({ url: r.name.replace(location.origin, ''), start: Math.round(r.startTime), ms: Math.round(r.duration), cached: r.transferSize === 0 }))
    .sort((a, b) => a.start - b.start).slice(0, 16));
  const doc = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    return n ? { response_start: Math.round(n.responseStart), response_end: Math.round(n.responseEnd), dom_interactive: Math.round(n.domInteractive), dom_content_loaded: Math.round(n.domContentLoadedEventEnd) } : null;
  });
  if (process.env.QM_TRACE) {
    await page.waitForLoadState('networkidle');
    await page.goto('about:blank');
    await browser.startTracing(page, { path: process.env.QM_TRACE, categories: ['devtools.timeline', 'v8', 'blink', 'loading', 'disabled-by-default-devtools.timeline', 'disabled-by-default-v8.cpu_profiler'] });
    const said = page.waitForEvent('console', { predicate: (m) => m.text().startsWith('qm-first-rows '), timeout: 60000 });
    await page.goto(`${url}#/mail/INBOX`, { waitUntil: 'commit' });
    await said;
    await browser.stopTracing();
  }
  times.sort((a, b) => a - b);
  const unlocks = [];
  let lists = 0;
  page.on('request', (r) => { if (r.url().includes('/api/messages?')) lists++; });
  for (let i = 0; i < 3; i++) {
    await page.waitForLoadState('networkidle');
    await page.locator('#lock-btn').click();
    await page.getByLabel('Passphrase').waitFor({ timeout: 60000 });
    await page.getByLabel('Passphrase').fill(pass);
    lists = 0;
    const t0 = await page.evaluate(() => performance.now());
    await page.getByRole('button', { name: 'Unlock' }).click();
    const t1 = await page.waitForFunction(() => (document.querySelector('#rows li.row') ? performance.now() : 0), null, { timeout: 60000, polling: 'raf' });
    unlocks.push((await t1.jsonValue()) - t0);
    await page.waitForLoadState('networkidle');
  }
  unlocks.sort((a, b) => a - b);
  console.log(JSON.stringify({ render_ms: times[2], runs_ms: times, unlock_to_rows_ms: Math.round(unlocks[1]), unlock_runs_ms: unlocks.map(Math.round), list_requests_after_unlock: lists, document_last_run: doc, requests_last_run: slow }));
} finally {
  await browser.close();
}
