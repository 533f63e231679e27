// SPDX-License-Identifier: MIT
// Browser test of adding an account by signing in (issue 17): Debian's
// Chromium driven by playwright-core against real servers started by
// signinenv (tests/e2e/signinenv.c): Dovecot taking OAuth2 tokens, the
// oidc-provider authorization server, a DNS server and the domain's
// autoconfig file over HTTPS. The wizard takes the address alone, says
// where it found the servers, opens the provider's sign-in in a window of
// its own (sign-in and consent pages filled in that window), tests the
// servers with the token before saving, and the account then syncs with
// it. A sign-in for another user is refused by the mail server and said
// so. When the provider revokes QMail's access, a sync shows the banner
// "Sign in to ... again"; its button signs in again, and mail flows.
// axe-core on the wizard's screens. Screenshots signin-*.png in
// docs/screenshots (or $QM_SCREENSHOTS).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { T, check, log, Env, watch, launch, shot, fits } from './lib.mjs';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

async function axe(page, where) {
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(AXE);
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
  check(r.length === 0, `accessibility violations on ${where}:\n  ${r.join('\n  ')}`);
}

// The provider's window: sign in as user, then Allow (or Deny).
async function provider(popup, w, user, password, allow = true) {
  await popup.waitForLoadState();
  await popup.getByLabel('Address').waitFor({ timeout: T });
  await popup.getByLabel('Address').fill(user);
  await popup.getByLabel('Password').fill(password);
  await popup.getByRole('button', { name: 'Sign in' }).click();
  await popup.getByRole('button', { name: allow ? 'Allow' : 'Deny' }).waitFor({ timeout: T });
  return popup;
}

async function signInWith(ctx, page, button, w, user, password, shotName) {
  const popupP = ctx.waitForEvent('page', { timeout: T });
  await button.click();
  const popup = await popupP;
  await provider(popup, w, user, password);
  if (shotName) await shot(popup, shotName);
  await popup.getByRole('button', { name: 'Allow' }).click();
  // the engine's loopback page answers; the wizard closes the window
}

async function main() {
  const profile = mkdtempSync(join(tmpdir(), 'qm-e2e-signin-'));
  const env = new Env();
  const errors = [];
  let browser, page;
  try {
    const first = await env.next();
    const w = first && JSON.parse(first);
    if (!w || w.skip) { log('skipped:', w ? w.skip : 'signinenv failed'); process.exitCode = w ? 77 : 1; return; }
    log('world up', w.url);
    browser = await launch(profile);
    // the provider's pages have the test CA's certificate, which Chromium
    // does not know (QMail's own calls to the provider check it)
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, ignoreHTTPSErrors: true });
    page = await ctx.newPage();
    watch(page, 'gui', w.url, errors);

    // ---- unlock: no account yet, so the wizard
    await page.goto(w.url);
    await page.getByRole('heading', { name: 'Unlock QMail' }).waitFor({ timeout: T });
    await page.getByLabel('Passphrase').fill(w.passphrase);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('heading', { name: 'Add an account' }).waitFor({ timeout: T });
    await page.getByLabel('Your name').fill('Alice');
    await page.getByLabel('E-mail address').fill(w.address);
    await page.getByRole('button', { name: 'Continue' }).click();

    // ---- what was found, and where
    const where = page.locator('#wiz-where');
    await where.waitFor({ timeout: T });
    const whereText = await where.textContent();
    log('found:', whereText);
    check(/configuration file your provider publishes \(autoconfig https:\/\/autoconfig\.qmail\.test/.test(whereText), `the wizard does not say where it found the servers: ${whereText}`);
    const found = await page.locator('#wiz-servers-found').textContent();
    check(/Receiving \(IMAP\): 127\.0\.0\.1:\d+ \(TLS\)/.test(found) && /Sending \(SMTP\): 127\.0\.0\.1:\d+ \(STARTTLS\)/.test(found), `servers shown: ${found}`);
    const signBtn = page.getByRole('button', { name: /^Sign in with / });
    await signBtn.waitFor({ timeout: T });
    check(!(await page.locator('#wiz-save').isEnabled()), 'Test and save was enabled before signing in');
    const signWhere = await page.locator('#wiz-signin-where').textContent();
    check(signWhere.includes(`at ${new URL(w.issuer).host}`), `the wizard does not say where the sign-in page is: ${signWhere}`);
    await page.getByLabel('OAuth client ID').fill(w.client_id);
    await axe(page, 'the wizard, what was found');
    await shot(page, 'signin-found.png');
    // on a phone: nothing wider than the screen, the sign-in button on it
    await page.setViewportSize({ width: 360, height: 740 });
    await fits(page, 'the wizard at 360 px');
    await axe(page, 'the wizard at 360 px');
    await shot(page, 'signin-found-360.png');
    await page.setViewportSize({ width: 1280, height: 860 });

    // ---- a sign-in as another user: the server refuses the token
    await signInWith(ctx, page, signBtn, w, 'bob@qmail.test', 'bob-Pw-1188', null);
    await page.locator('#signin-ok').waitFor({ timeout: T });
    // the servers' CA: a self-hosted server with a CA of its own
    await page.locator('#wiz-servers summary').click();
    await page.getByLabel('Mail server CA certificate').fill(w.mail_ca);
    await page.locator('#wiz-save').click();
    const checks = page.getByRole('list', { name: 'Connection test results' });
    await checks.waitFor({ timeout: T });
    let results = await checks.locator('li').allTextContents();
    log('test as bob:', results.join(' | '));
    check(/Receiving \(IMAP\/POP3\): failed/.test(results[1]), `a token for bob was accepted for alice: ${results[1]}`);
    check(/sign(ed)? in|another|refused|denied|rejected/i.test(results[1]), `the refusal does not say why: ${results[1]}`);
    check(await page.locator('#wiz-save-anyway').isVisible(), 'no "Save anyway" after a failed test');
    check((await page.evaluate(async () => (await (await fetch('/api/accounts')).json()).accounts.length)) === 0, 'a failed test saved the account');

    // ---- the right user: signed in, tested, saved (the provider's
    // session of bob is forgotten first, as signing out there would)
    await ctx.clearCookies({ name: /^_(session|interaction)/ });
    await signInWith(ctx, page, signBtn, w, w.address, w.password, 'signin-provider.png');
    await page.locator('#signin-ok').waitFor({ timeout: T });
    await page.locator('#wiz-save').click();
    await page.locator('#wiz-saved').waitFor({ timeout: T });
    results = await checks.locator('li').allTextContents();
    log('test as alice:', results.join(' | '));
    check(/Sending \(SMTP\): OK/.test(results[0]) && /Receiving \(IMAP\/POP3\): OK/.test(results[1]), `the test failed: ${results.join(' | ')}`);
    await axe(page, 'the wizard, saved');
    await shot(page, 'signin-saved.png');

    // ---- the account syncs with its token
    await env.cmd('deliver 2');
    await page.locator('#wiz-inbox').click();
    await page.locator('#rows').waitFor({ timeout: T });
    await page.locator('#sync-btn').click();
    await page.locator('#rows [role="option"]', { hasText: 'Welcome note 2' }).waitFor({ timeout: T });

    // ---- access revoked at the provider: the banner, then sign in again
    await env.cmd('revoke');
    await page.locator('#sync-btn').click();
    const banner = page.locator('.signin-banner');
    await banner.waitFor({ timeout: T });
    const btext = await banner.textContent();
    check(btext.includes(`Sign in to ${w.address} again`), `banner: ${btext}`);
    await shot(page, 'signin-again.png');
    await env.cmd('deliver 1');
    await ctx.clearCookies({ name: /^_(session|interaction)/ });
    await signInWith(ctx, page, banner.getByRole('button', { name: 'Sign in' }), w, w.address, w.password, null);
    await banner.waitFor({ state: 'detached', timeout: T });
    await page.locator('#sync-btn').click();
    await page.locator('#rows [role="option"]', { hasText: 'Welcome note 3' }).waitFor({ timeout: T });
    const n = await page.locator('#rows [role="option"]').count();
    check(n === 3, `the inbox shows ${n} messages after signing in again, not 3`);

    // ---- Settings: the client IDs of the providers; a secret never shown whole
    await page.evaluate(() => { location.hash = '#/settings'; });
    const sec = page.locator('section', { has: page.getByRole('heading', { name: 'Signing in and finding servers' }) });
    await sec.waitFor({ timeout: T });
    await sec.getByLabel('oauth.microsoft.client_id').fill('11111111-2222-3333-4444-555555555555');
    await sec.getByLabel('oauth.google.client_secret').fill('GOCSPX-very-secret-value');
    await sec.getByRole('button', { name: 'Save' }).click();
    // the section is drawn anew from the server once saved: wait for that
    // one (the old fields still hold what was typed until then)
    await page.waitForFunction(() => [...document.querySelectorAll('input[type="password"]')]
      .some((i) => /^set \(/.test(i.placeholder || '')), null, { timeout: T });
    const sec2 = page.locator('section', { has: page.getByRole('heading', { name: 'Signing in and finding servers' }) });
    await sec2.waitFor({ timeout: T });
    check(await sec2.getByLabel('oauth.microsoft.client_id').inputValue() === '11111111-2222-3333-4444-555555555555', 'the client ID was not kept');
    const secret = sec2.getByLabel('oauth.google.client_secret');
    check(await secret.inputValue() === '', 'a client secret is shown in its field');
    check(/^set \(GOCS/.test(await secret.getAttribute('placeholder')), `the secret's field does not say it is set: ${await secret.getAttribute('placeholder')}`);
    check(!(await page.content()).includes('very-secret-value'), 'the page holds the whole client secret');
    await axe(page, 'Settings');
    await sec2.scrollIntoViewIfNeeded();
    await shot(page, 'signin-settings.png');

    check(errors.length === 0, `page errors:\n  ${errors.join('\n  ')}`);
    log('signin: all checks passed');
  } catch (e) {
    // what the page said, for the failure's reader
    if (page) log('page said:', await page.locator('main').textContent().catch(() => '(no page)'));
    throw e;
  } finally {
    if (browser) await browser.close();
    await env.stop();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e.stack || e.message); process.exitCode = 1; });
