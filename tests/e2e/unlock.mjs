// SPDX-License-Identifier: MIT
// Browser test of unlock once per session (issue 18, invariant 33): after
// `qmail unlock`, `qmail web` prints a link with #agent=TOKEN; Debian's
// Chromium opening it reaches the inbox without the passphrase form, and
// the token leaves the address bar at once. The same address without the
// token shows the passphrase form. After `qmail lock` the open page's next
// request finds the GUI locked, and a reload shows the passphrase form.
// Uses the real qmail program on a fresh home (no mail server needed).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { T, check, log, watch, launch } from './lib.mjs';

const BIN = join(process.env.QM_BINARY_DIR || 'build', 'src/cli/qmail');

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'qm-e2e-unlock-'));
  const home = join(dir, 'h');
  const pw = join(dir, 'pw');
  writeFileSync(pw, 'the passphrase of the unlock e2e test\n', { mode: 0o600 });
  const env = { PATH: process.env.PATH, QM_STORE_KDF: 'fast' };
  const q = (args, pass) => {
    const r = spawnSync(BIN, ['--home', home, '-q', ...args], {
      env: pass ? { ...env, QMAIL_PASSPHRASE_FILE: pw } : env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    return { code: r.status, out: (r.stdout || '') + (r.stderr || '') };
  };
  let web = null, browser = null, agent = 0;
  const profile = mkdtempSync(join(tmpdir(), 'qm-e2e-unlock-profile-'));
  try {
    check(q(['init'], true).code === 0, 'init failed');
    check(q(['account', 'add', '--address', 'me@example.test', '--smtp', '127.0.0.1:1', '--smtp-tls', 'tls',
      '--imap', '127.0.0.1:2', '--imap-tls', 'tls', '--password-file', pw], true).code === 0, 'account add failed');
    const u = q(['unlock', '--for', '5m'], true);
    check(u.code === 0, `unlock failed: ${u.out}`);
    agent = Number(/agent pid (\d+)/.exec(u.out)[1]);
    web = spawn(BIN, ['--home', home, 'web', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const link = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`qmail web printed no link: ${text}`)), T);
      web.stdout.on('data', (d) => {
        text += d;
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)#agent=([0-9a-f]{64})/.exec(text);
        if (m) { clearTimeout(t); resolve({ base: m[1], full: m[0] }); }
      });
    });
    log('unlock: link printed');
    browser = await launch(profile);
    const errors = [];
    // without the token: the passphrase form, as ever
    const plain = await browser.newPage();
    watch(plain, 'plain', link.base, errors);
    await plain.goto(link.base);
    await plain.getByRole('heading', { name: 'Unlock QMail' }).waitFor({ timeout: T });
    // with it: the inbox, and the token gone from the address
    const page = await browser.newPage();
    watch(page, 'agent', link.base, errors);
    await page.goto(link.full);
    await page.locator('#rows').waitFor({ timeout: T });
    check(!page.url().includes('agent='), `the token stayed in the address: ${page.url()}`);
    check(await page.getByRole('heading', { name: 'Unlock QMail' }).count() === 0, 'the passphrase form was shown');
    log('unlock: in with the agent key');
    // qmail lock: the GUI locks at its next request
    check(q(['lock']).code === 0, 'lock failed');
    let st = 0;
    for (let i = 0; i < 40 && st !== 401; i++) {
      await new Promise((r) => setTimeout(r, 100));
      st = await page.evaluate(async () => (await fetch('/api/accounts')).status);
    }
    check(st === 401, `the GUI still answered ${st} after qmail lock`);
    await page.goto(link.base);
    await page.getByRole('heading', { name: 'Unlock QMail' }).waitFor({ timeout: T });
    log('unlock: locked with the agent');
    check(errors.length === 0, `page errors:\n  ${errors.join('\n  ')}`);
    log('unlock: all checks passed');
  } finally {
    if (browser) await browser.close();
    if (web) web.kill('SIGTERM');
    q(['lock']);
    if (agent > 1) { try { process.kill(agent, 'SIGTERM'); } catch { /* gone */ } }
    rmSync(dir, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e.stack || e.message); process.exitCode = 1; });
