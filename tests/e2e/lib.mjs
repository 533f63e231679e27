// SPDX-License-Identifier: MIT
// What the browser tests share: webenv (tests/e2e/webenv.c) as a child
// process that answers commands, Chromium started by playwright-core,
// the page watcher that turns a page error, a console error, a native
// dialog or a request outside the app into a test failure, screenshots
// and unlocking.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const SRC = process.env.QM_SOURCE_DIR || new URL('../..', import.meta.url).pathname;
const WEBENV = process.env.QM_WEBENV;
export const SHOTS = process.env.QM_SCREENSHOTS || join(SRC, 'docs/screenshots');
export const T = 60000;

export function fail(msg) { throw new Error(msg); }
export function check(cond, msg) { if (!cond) fail(msg); }
const t0 = Date.now();
export function log(...a) { console.log(`e2e ${((Date.now() - t0) / 1000).toFixed(1)}s:`, ...a); }

// ---------------------------------------------------------------- webenv
export class Env {
  constructor() {
    if (!WEBENV) fail('QM_WEBENV is not set (run through ctest)');
    this.proc = spawn(WEBENV, [], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
    this.lines = [];
    this.waiters = [];
    createInterface({ input: this.proc.stdout }).on('line', (l) => {
      const w = this.waiters.shift();
      if (w) w(l); else this.lines.push(l);
    });
    this.proc.on('exit', (code) => { this.exited = code; const w = this.waiters.shift(); if (w) w(null); });
  }
  next(timeout = 300000) {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    if (this.exited !== undefined) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('webenv did not answer')), timeout);
      this.waiters.push((l) => { clearTimeout(t); resolve(l); });
    });
  }
  async cmd(c) {
    this.proc.stdin.write(`${c}\n`);
    const r = await this.next();
    check(r && r.startsWith('ok'), `webenv ${c}: ${r}`);
    return r;
  }
  async stop() {
    if (this.exited !== undefined) return;
    try { this.proc.stdin.write('quit\n'); } catch (e) { /* gone */ }
    await new Promise((resolve) => {
      const t = setTimeout(() => { try { process.kill(-this.proc.pid, 'SIGKILL'); } catch (e) { /* gone */ } resolve(); }, 30000);
      this.proc.on('exit', () => { clearTimeout(t); resolve(); });
      if (this.exited !== undefined) { clearTimeout(t); resolve(); }
    });
  }
}

// ---------------------------------------------------------------- page helpers
// The JSON API from inside the page (same origin, the session's CSRF token).
export function apiCall(page, method, path, body) {
  return page.evaluate(async ({ method, path, body }) => {
    const st = await (await fetch('/api/state')).json();
    const r = await fetch(path, { method, headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': st.csrf }, body: body ? JSON.stringify(body) : undefined });
    return { status: r.status, json: await r.json().catch(() => null) };
  }, { method, path, body });
}

export function watch(page, name, base, errors) {
  const origin = new URL(base).origin;
  page.on('pageerror', (e) => errors.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) errors.push(`${name}: console: ${m.text()}`); });
  page.on('dialog', (d) => { errors.push(`${name}: a dialog opened: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:') && u !== 'about:blank')
      errors.push(`${name}: request outside the app: ${u}`);
  });
}

// Nothing wider than the screen (no sideways scrolling of the page).
export async function fits(page, where) {
  const o = await page.evaluate(() => {
    const vw = document.documentElement.clientWidth;
    // what sticks out of the screen where nothing clips it
    const clipped = (e) => { for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) if (getComputedStyle(p).overflowX !== 'visible') return true; return false; };
    const wide = [...document.querySelectorAll('body *')].filter((e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.right > vw + 1 && getComputedStyle(e).position !== 'fixed' && !e.closest('.sidebar, [hidden]') && !clipped(e);
    }).slice(0, 3).map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}.${e.className}`);
    return { sw: document.documentElement.scrollWidth, vw, wide };
  });
  check(o.sw <= o.vw && o.wide.length === 0, `${where}: the page is ${o.sw} px wide on a ${o.vw} px screen (${o.wide.join(', ')})`);
}

export async function shot(page, file) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, file), fullPage: file === 'compose.png' || file === 'compose-plain.png' });
}

export async function unlock(page, url, pass) {
  await page.goto(url);
  await page.getByRole('heading', { name: 'Unlock QMail' }).waitFor({ timeout: T });
  await page.getByLabel('Passphrase').fill('wrong passphrase!!');
  await page.getByRole('button', { name: 'Unlock' }).click();
  await page.getByRole('alert').filter({ hasText: 'not right' }).waitFor({ timeout: T });
  await page.getByLabel('Passphrase').fill(pass);
  await page.getByRole('button', { name: 'Unlock' }).click();
  await page.locator('#rows').waitFor({ timeout: T });
}

// Debian's Chromium, headless, with a throw-away cache folder.
export function launch(profile) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--disk-cache-dir=${profile}`],
  });
}
