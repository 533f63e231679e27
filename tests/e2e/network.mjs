// SPDX-License-Identifier: MIT
// Browser test of the key manager's network view (issue 19): webenv with
// its KMEs as a line of four (QM_WEBENV_TOPOLOGY=line:4), alice at KME_A
// and bob at KME_D. Alice's key manager page draws the four KMEs and the
// three links, lists the links with their state, and says that bob's keys
// go KME_A -> KME_B -> KME_C -> KME_D with two trusted nodes seeing them.
// An eavesdropper on KME_B-KME_C (qkme ctl ... eve on KME_C) shows as an
// alarm on that link and leaves bob with no route, said in words; once it
// is off the route comes back. Screenshots of both.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHOTS, T, check, log, Env, watch, launch, unlock, apiCall, shot } from './lib.mjs';

const QKME = join(process.env.QM_BINARY_DIR || 'build', 'src/kme/qkme');

// The network card (the page redraws it every 3 s: a node may go while
// the picture is taken, so again with the new one).
async function shotCard(page, file) {
  for (let i = 0; ; i++) {
    try {
      await page.locator('#kme-network').screenshot({ path: join(SHOTS, file), timeout: 5000 });
      return;
    } catch (e) {
      if (i === 4) throw e;
    }
  }
}

function eve(dir, on) {
  const r = spawnSync(QKME, ['ctl', join(dir, 'KME_B', 'ctl.conf'), 'eve', on ? 'on' : 'off', 'KME_C'], { encoding: 'utf8' });
  check(r.status === 0, `qkme ctl eve: ${r.stdout}${r.stderr}`);
}

async function main() {
  process.env.QM_WEBENV_TOPOLOGY = 'line:4';
  const env = new Env();
  const errors = [];
  const profile = mkdtempSync(join(tmpdir(), 'qm-chromium-'));
  let browser, A = null, w = null;
  try {
    const first = await env.next();
    check(first, 'webenv exited before it was ready');
    w = JSON.parse(first);
    if (w.skip) { log('skip:', w.skip); process.exitCode = 77; return; }
    browser = await launch(profile);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    A = await ctx.newPage();
    watch(A, 'alice', w.alice, errors);
    await unlock(A, w.alice, w.passphrase);
    await A.evaluate(() => { location.hash = '#/kme'; });
    const card = A.locator('#kme-network');
    await card.waitFor({ timeout: T });
    await A.waitForFunction(() => document.querySelectorAll('#kme-network table.net-links tbody tr').length === 3, null, { timeout: T });
    check(await A.locator('#kme-network svg .net-node').count() === 4, 'the graph does not draw four KMEs');
    check(await A.locator('#kme-network svg .net-node.own').count() === 1, 'the graph does not mark alice\'s KME');
    const text = await card.textContent();
    check(/KME_A \(yours\)/.test(text), `alice's KME not named as hers: ${text}`);
    const bob = A.locator('#kme-network .net-routes li', { hasText: w.bob_addr });
    await bob.waitFor({ timeout: T });
    const route = await bob.textContent();
    check(/KME_A → KME_B → KME_C → KME_D/.test(route) && /2 trusted nodes/.test(route), `bob's route: ${route}`);
    const carol = await A.locator('#kme-network .net-routes li', { hasText: w.carol_addr }).textContent();
    check(/a direct link, no trusted node/.test(carol), `carol's route: ${carol}`);
    await A.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await shotCard(A, 'kme-network.png');
    log('network view ok');

    // an eavesdropper on the middle link: an alarm there, no route for bob
    eve(w.net_dir, true);
    await A.waitForFunction(() => {
      const row = document.querySelector('#kme-network tr[data-link="KME_B-KME_C"]');
      return row && /ALARM/.test(row.textContent);
    }, null, { timeout: T, polling: 500 });
    await A.waitForFunction((addr) => [...document.querySelectorAll('#kme-network .net-routes li')]
      .some((li) => li.textContent.includes(addr) && /no route/.test(li.textContent) && /KME_B-KME_C/.test(li.textContent)), w.bob_addr, { timeout: T, polling: 500 });
    check(await A.locator('#kme-network svg .net-link.alarm').count() === 1, 'the alarm link is not drawn as one');
    await A.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await shotCard(A, 'kme-network-alarm.png');
    log('alarm shown');
    eve(w.net_dir, false);
    await A.waitForFunction((addr) => [...document.querySelectorAll('#kme-network .net-routes li')]
      .some((li) => li.textContent.includes(addr) && /2 trusted nodes/.test(li.textContent)), w.bob_addr, { timeout: 90000, polling: 1000 });
    log('route back');

    // a level-2 message from alice to bob, its keys relayed through
    // KME_B and KME_C: bob's security details name the two trusted nodes
    const B = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    watch(B, 'bob', w.bob, errors);
    await unlock(B, w.bob, w.passphrase);
    const acct = (await apiCall(A, 'GET', '/api/accounts')).json.accounts[0].id;
    for (let i = 0; ; i++) {
      const sent = await apiCall(A, 'POST', '/api/send', { account: acct, to: w.bob_addr, subject: 'Relayed through two trusted nodes', text: 'Bob, these keys crossed KME_B and KME_C.\n', level: 2 });
      if (sent.status >= 200 && sent.status < 300) break;
      // a hop's pool still filling after the alarm: 503, tried again
      check(i < 30 && sent.status === 503, `alice's send: ${JSON.stringify(sent)}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    const row = B.locator('#rows .row', { hasText: 'Relayed through two trusted nodes' });
    for (let i = 0; !(await row.count()); i++) {
      check(i < 60, 'bob never got the relayed message');
      await B.locator('#sync-btn').click();
      await row.first().waitFor({ timeout: 5000 }).catch(() => {});
    }
    await row.first().click();
    await B.locator('#reader-subject').waitFor({ timeout: T });
    await B.locator('details.secdetails summary').click();
    const path = await B.locator('#key-path').textContent({ timeout: T });
    check(/relayed over 3 QKD links from KME_A through 2 trusted nodes/.test(path), `bob's key path: ${path}`);
    await B.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await shot(B, 'reader-key-path.png');
    log('key path shown');
    check(errors.length === 0, `browser errors:\n${errors.join('\n')}`);
    log('all passed');
  } catch (e) {
    if (A) await A.screenshot({ path: join(tmpdir(), 'qm-network-failure.png') }).then(() => log(`the page at the failure: ${join(tmpdir(), 'qm-network-failure.png')}`), () => {});
    throw e;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await env.stop();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error('network: FAILED:', e.message); process.exitCode = 1; });
