// SPDX-License-Identifier: MIT
// The account wizard, as Thunderbird's: the address first; the engine finds
// the servers (its provider list, the domain's autoconfig file over HTTPS,
// DNS SRV records, the MX) and says where; the person signs in (OAuth2 in a
// window of the provider, or a password); the settings are tested before
// they are saved. And the sign-in again of an account whose OAuth2 sign-in
// ended (the banner of app.js calls signIn).
import { api } from './api.js';
import { h, mount, toast, field } from './ui.js';
import { state, loadAccounts } from './app.js';
import { accountForm, checkRow } from './settings.js';

const SECURITY = { tls: 'TLS', starttls: 'STARTTLS', none: 'no encryption' };

function serverText(s) {
  return s && s.host ? `${s.host}:${s.port} (${SECURITY[s.security] || s.security})` : '';
}

// Runs one OAuth2 sign-in: asks the server for the provider's page, opens it
// in a window of its own, and waits (long polls) until the provider sends the
// browser back to QMail. body: what /api/oauth/begin takes. status: an element
// for what is going on. Resolves with the flow's id once signed in; rejects
// with the reason (refused, cancelled, timed out).
export async function runSignIn(body, status) {
  const b = await api.post('/api/oauth/begin', body);
  const win = window.open(b.url, 'qmail-signin', 'popup,width=560,height=720');
  let cancelled = false;
  const cancel = h('button', { type: 'button', class: 'btn', id: 'signin-cancel', onclick: async () => { cancelled = true; try { await api.post('/api/oauth/cancel', { flow: b.flow }); } catch (e) { /* gone already */ } } }, 'Cancel');
  mount(status, h('p', { role: 'status' }, `Waiting for you to sign in with ${b.provider_name || 'your provider'} in the other window… `,
    h('a', { href: b.url, target: 'qmail-signin', rel: 'noopener', id: 'signin-link' }, win ? 'Open it again' : 'Open the sign-in page'), ' ', cancel));
  for (;;) {
    const r = await api.post('/api/oauth/wait', { flow: b.flow });
    if (r.state === 'done') {
      if (win && !win.closed) win.close();
      mount(status, h('p', { class: 'ok', role: 'status', id: 'signin-ok' }, '\u2714 Signed in. QMail keeps the sign-in encrypted in your vault and renews it by itself.'));
      return b.flow;
    }
    if (r.state !== 'pending' || cancelled) {
      if (win && !win.closed) win.close();
      throw new Error(cancelled ? 'Sign-in cancelled.' : (r.message || 'The sign-in did not finish.'));
    }
  }
}

function foundText(d) {
  if (!d.found) return 'QMail found no settings for this address: enter the servers below.';
  return `Found ${d.where}.`;
}

export async function showWizard(root) {
  const name = h('input', { type: 'text', maxlength: '255', autocomplete: 'name', id: 'wiz-name' });
  const address = h('input', { type: 'email', maxlength: '320', required: true, autocomplete: 'email', id: 'wiz-address' });
  const next = h('button', { type: 'submit', class: 'btn primary', id: 'wiz-next' }, 'Continue');
  const step2 = h('div', { id: 'wiz-found', 'aria-live': 'polite' });
  const form = h('form', { class: 'card wizard', 'aria-labelledby': 'wiz-title' },
    h('h1', { id: 'wiz-title' }, 'Add an account'),
    h('p', {}, 'Your e-mail address is enough: QMail looks up your provider\u2019s servers and tests them before saving.'),
    field('Your name', name), field('E-mail address', address),
    h('div', { class: 'actions' }, next, state.accounts.length ? h('a', { class: 'btn ghost', href: '#/settings' }, 'Cancel') : null));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    next.disabled = true;
    mount(step2, h('p', { class: 'muted', role: 'status' }, `Looking up the settings for ${address.value.trim()}…`));
    try {
      const d = await api.post('/api/discover', { address: address.value.trim() });
      showFound(step2, d, name.value.trim(), address.value.trim());
    } catch (err) { mount(step2, h('p', { class: 'error', role: 'alert' }, err.message)); } finally { next.disabled = false; }
  });
  mount(root, h('div', {}, form, step2));
  address.focus();
}

// Step two: what was found and where, the sign-in, the test and the save.
function showFound(box, d, name, address) {
  const pre = { name, address, username: d.username || address, smtp: d.smtp || {}, imap: d.imap || {}, pop3: d.pop3 || {} };
  const f = accountForm(pre, null);
  const servers = h('details', { class: 'card', id: 'wiz-servers', open: d.found ? null : true },
    h('summary', {}, d.found ? 'Server settings (change them only if you know they are wrong)' : 'Server settings'), f.box);
  let flow = null;
  const out = h('div', { 'aria-live': 'polite', id: 'wiz-out' });
  const signStatus = h('div', { id: 'signin-status' });
  const save = h('button', { type: 'button', class: 'btn primary', id: 'wiz-save' }, 'Test and save');
  let usePassword = !d.oauth;
  const sign = h('div', { class: 'signin' });
  const renderSign = () => {
    if (usePassword || !d.oauth) {
      mount(sign, h('p', {}, d.oauth ? 'Enter your password (an app password where your provider gives one) in the server settings below.' : 'Enter your password in the server settings below; it is kept encrypted in your vault.'),
        d.oauth ? h('button', { type: 'button', class: 'btn ghost', onclick: () => { usePassword = false; renderSign(); } }, `Sign in with ${d.oauth.provider_name} instead`) : null);
      servers.open = true;
      return;
    }
    const o = d.oauth;
    const cid = h('input', { type: 'text', maxlength: '255', autocomplete: 'off', id: 'wiz-client-id', value: o.client_id || '' });
    const csec = h('input', { type: 'password', maxlength: '255', autocomplete: 'off', id: 'wiz-client-secret' });
    const go = h('button', { type: 'button', class: 'btn primary', id: 'signin-btn' }, `Sign in with ${o.provider_name}`);
    go.addEventListener('click', async () => {
      go.disabled = true;
      try {
        flow = await runSignIn({ address, client_id: cid.value.trim(), client_secret: csec.value || undefined }, signStatus);
        save.disabled = false;
        save.focus();
      } catch (err) { flow = null; mount(signStatus, h('p', { class: 'error', role: 'alert' }, err.message)); } finally { go.disabled = false; }
    });
    mount(sign,
      h('p', { id: 'wiz-signin-where' }, `${o.provider_name} signs you in on its own page${o.auth_host ? ` at ${o.auth_host}` : ''}: QMail never sees your password, only a token for mail that it keeps encrypted and renews.`),
      o.client_id_set ? null : h('div', { class: 'oauth-client' },
        h('p', { class: 'muted' }, `${o.provider_name} lets mail programs sign in only with a client ID of your own: register one once (docs/USING.md, "OAuth2 sign-in", has the steps for ${o.provider_name}) and enter it here. QMail remembers it for your other accounts.`),
        field('OAuth client ID', cid), o.secret_required ? field('Client secret', csec, `${o.provider_name} gives it with the client ID.`) : null),
      h('div', { class: 'actions' }, go, o.password_ok ? h('button', { type: 'button', class: 'btn ghost', onclick: () => { usePassword = true; renderSign(); } }, 'Use an app password instead') : null),
      signStatus);
  };
  renderSign();
  if (d.oauth) save.disabled = true;
  save.addEventListener('click', async () => {
    const body = f.get();
    if (!usePassword && d.oauth) {
      if (!flow) { mount(out, h('p', { class: 'error', role: 'alert' }, `Sign in with ${d.oauth.provider_name} first.`)); return; }
      body.oauth_flow = flow;
      delete body.password;
    }
    save.disabled = true;
    mount(out, h('p', { class: 'muted', role: 'status' }, 'Testing the servers…'));
    try {
      const t = await api.post('/api/accounts/probe', body);
      const ok = t.smtp.ok && t.incoming.ok;
      const rows = h('ul', { class: 'checks', 'aria-label': 'Connection test results' }, checkRow('Sending (SMTP)', t.smtp), checkRow('Receiving (IMAP/POP3)', t.incoming));
      if (!ok) {
        const anyway = h('button', { type: 'button', class: 'btn', id: 'wiz-save-anyway', onclick: () => finish(body, out) }, 'Save anyway');
        mount(out, rows, h('p', { class: 'error', role: 'alert' }, 'Not saved: a server did not accept these settings. Correct them and test again, or save anyway (for a server that is down now).'), h('div', { class: 'actions' }, anyway));
        return;
      }
      mount(out, rows);
      await finish(body, out);
    } catch (err) { mount(out, h('p', { class: 'error', role: 'alert' }, err.message)); } finally { save.disabled = false; }
  });
  // what was tried on the way, and refused (a server without TLS): in
  // the engine's words, under a caption so that it reads as history
  const notes = (d.notes || []).map((n) => h('li', {}, n));
  mount(box, h('section', { class: 'card wiz-found', 'aria-labelledby': 'wiz-found-title' },
    h('h2', { id: 'wiz-found-title' }, d.provider_name || (d.found ? 'Your mail servers' : 'Enter your mail servers')),
    h('p', { id: 'wiz-where' }, foundText(d)),
    d.found ? h('ul', { class: 'plain found', id: 'wiz-servers-found' },
      d.imap && d.imap.host ? h('li', {}, h('strong', {}, 'Receiving (IMAP): '), serverText(d.imap)) : null,
      d.pop3 && d.pop3.host && !(d.imap && d.imap.host) ? h('li', {}, h('strong', {}, 'Receiving (POP3): '), serverText(d.pop3)) : null,
      d.smtp && d.smtp.host ? h('li', {}, h('strong', {}, 'Sending (SMTP): '), serverText(d.smtp)) : null) : null,
    notes.length ? h('div', { class: 'notes muted', id: 'wiz-notes' }, h('p', {}, d.found ? 'Tried on the way:' : 'What QMail tried:'), h('ul', { class: 'plain' }, notes)) : null,
    sign), servers, h('div', { class: 'card' }, h('div', { class: 'actions' }, save), out));
}

async function finish(body, out) {
  const a = await api.post('/api/accounts', body);
  state.account = a.id;
  await loadAccounts();
  toast(`Account ${a.address} added`);
  out.appendChild(h('p', { class: 'ok', id: 'wiz-saved' }, `\u2714 ${a.address} is saved. Add your key manager (KME) in Settings for levels 1 and 2.`));
  out.appendChild(h('div', { class: 'actions' }, h('a', { class: 'btn primary', href: '#/mail/INBOX', id: 'wiz-inbox' }, 'Go to the inbox'), h('a', { class: 'btn', href: '#/settings' }, 'Settings')));
}

// The banner of an account whose sign-in ended: one button signs in again.
export function signInBanner(a) {
  const status = h('span', { class: 'signin-status' });
  const btn = h('button', { type: 'button', class: 'btn primary small', dataset: { account: a.address } }, 'Sign in');
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      const flow = await runSignIn({ account: a.id }, status);
      await api.post(`/api/accounts/${encodeURIComponent(a.id)}/signin`, { oauth_flow: flow });
      toast(`Signed in to ${a.address}. Mail waiting in the outbox goes out with the next sync.`);
      await loadAccounts();
      window.dispatchEvent(new CustomEvent('qm-signed-in'));
    } catch (err) { mount(status, h('span', { class: 'error', role: 'alert' }, err.message)); btn.disabled = false; }
  });
  return h('div', { class: 'signin-banner', role: 'alert' }, h('span', {}, `Sign in to ${a.address} again: the provider ended QMail's sign-in, so QMail cannot send or fetch this account's mail. Nothing is lost: the outbox waits.`), btn, status);
}
