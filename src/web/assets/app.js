// SPDX-License-Identifier: MIT
// QMail web GUI entry point: session state, the hash router, the shell
// (top bar, sidebar), unlock and first-run screens, background polling of
// sync progress, new-mail notices and the KME alarm, keyboard shortcuts.
import { api, setCsrf, ApiError } from './api.js';
import { h, mount, toast, field } from './ui.js';
import { showMailbox, keyNav } from './mail.js';
import { showCompose } from './compose.js';
import { showSettings, showWizard, showKeyring, showOutbox, showDrafts } from './settings.js';
import { showKme } from './kme.js';

export const state = { unlocked: false, initialized: false, accounts: [], account: '', folders: [], eventSeq: 0, timers: [] };

const main = () => document.getElementById('main');

async function refreshState() {
  const s = await api.get('/api/state');
  setCsrf(s.csrf);
  state.unlocked = s.unlocked;
  state.initialized = s.initialized;
  state.remoteImages = !!s.remote_images;
  return s;
}

function showUnlock(first) {
  document.getElementById('topbar').hidden = true;
  document.getElementById('sidebar').hidden = true;
  const pass = h('input', { type: 'password', autocomplete: first ? 'new-password' : 'current-password', required: true, maxlength: '1024', autofocus: true });
  const pass2 = first ? h('input', { type: 'password', autocomplete: 'new-password', required: true, maxlength: '1024' }) : null;
  const msg = h('p', { class: 'error', role: 'alert', 'aria-live': 'assertive' });
  const btn = h('button', { type: 'submit', class: 'btn primary' }, first ? 'Create and unlock' : 'Unlock');
  const form = h('form', { class: 'card unlock', 'aria-labelledby': 'unlock-title' },
    h('h1', { id: 'unlock-title' }, first ? 'Welcome to QMail' : 'Unlock QMail'),
    h('p', {}, first
      ? 'Choose a passphrase. It encrypts your keys, your mail and your account passwords on this computer. There is no way to recover it, so write it down somewhere safe.'
      : 'Enter your passphrase to open your mail.'),
    field('Passphrase', pass, first ? 'At least 12 characters; a few random words work well.' : undefined),
    first ? field('Repeat the passphrase', pass2) : null,
    msg, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.textContent = '';
    if (first && pass.value !== pass2.value) { msg.textContent = 'The two passphrases differ.'; pass2.focus(); return; }
    btn.disabled = true;
    try {
      const r = await api.post(first ? '/api/init' : '/api/unlock', { passphrase: pass.value });
      pass.value = ''; if (pass2) pass2.value = '';
      setCsrf(r.csrf);
      state.unlocked = true;
      await afterUnlock(first);
    } catch (err) {
      msg.textContent = err.message;
      pass.select();
    } finally { btn.disabled = false; }
  });
  mount(main(), form);
  pass.focus();
}

async function afterUnlock(first) {
  // The inbox first; folder counts and the pollers after it is on screen.
  if (!first && location.hash.startsWith('#/mail/')) {
    // a reload on the inbox: the list does not need the account list first
    await Promise.all([loadAccounts(false), route()]);
  } else {
    await loadAccounts(false);
    if (first || state.accounts.length === 0) location.hash = '#/wizard';
    else if (!location.hash || location.hash === '#/unlock') location.hash = '#/mail/INBOX';
    else await route();
  }
  requestAnimationFrame(() => { loadFolders(); startPolling(); });
}

export async function loadAccounts(withFolders = true) {
  const r = await api.get('/api/accounts');
  state.accounts = r.accounts || [];
  if (!state.accounts.find((a) => a.id === state.account)) state.account = state.accounts.length ? state.accounts[0].id : '';
  if (withFolders) await loadFolders();
}

export async function loadFolders() {
  state.folders = [];
  if (state.account) {
    try { state.folders = (await api.get(`/api/folders?account=${encodeURIComponent(state.account)}`)).folders || []; } catch (e) { state.folders = []; }
  }
  renderSidebar();
}

function navLink(href, label, extra) {
  const current = location.hash === href || (href !== '#/' && location.hash.startsWith(`${href}/`));
  return h('li', {}, h('a', { href, 'aria-current': current ? 'page' : null }, label, extra ? h('span', { class: 'count', 'aria-label': `${extra} unread` }, String(extra)) : null));
}

export function renderSidebar() {
  const sb = document.getElementById('sidebar');
  const acct = h('select', { 'aria-label': 'Account', onchange: async (e) => { state.account = e.target.value; await loadFolders(); location.hash = '#/mail/INBOX'; } },
    state.accounts.map((a) => h('option', { value: a.id, selected: a.id === state.account ? true : null }, a.address)));
  const folders = state.folders.length ? state.folders : [{ name: 'INBOX', unread: 0 }];
  mount(sb,
    h('a', { class: 'btn primary compose-btn', href: '#/compose' }, 'Compose'),
    state.accounts.length > 1 ? acct : null,
    h('h2', { class: 'sr-only' }, 'Folders'),
    h('ul', { class: 'nav' }, folders.map((f) => navLink(`#/mail/${encodeURIComponent(f.name)}`, f.name === 'INBOX' ? 'Inbox' : f.name, f.unread || 0))),
    h('h2', { class: 'nav-title' }, 'Tools'),
    h('ul', { class: 'nav' },
      navLink('#/outbox', 'Outbox'), navLink('#/drafts', 'Drafts'), navLink('#/kme', 'Key manager'),
      navLink('#/keyring', 'Keyring'), navLink('#/settings', 'Settings')));
  sb.hidden = false;
  document.getElementById('topbar').hidden = false;
}

export async function route() {
  if (!state.unlocked) { showUnlock(!state.initialized); return; }
  const parts = (location.hash || '#/mail/INBOX').slice(2).split('/').map(decodeURIComponent);
  renderSidebar();
  const m = main();
  try {
    switch (parts[0]) {
      case 'mail': await showMailbox(m, parts[1] || 'INBOX', parts[2] || ''); break;
      case 'compose': await showCompose(m, parts[1] || '', parts[2] || ''); break;
      case 'outbox': await showOutbox(m); break;
      case 'drafts': await showDrafts(m); break;
      case 'settings': await showSettings(m); break;
      case 'keyring': await showKeyring(m); break;
      case 'wizard': await showWizard(m); break;
      case 'kme': await showKme(m); break;
      default: location.hash = '#/mail/INBOX';
    }
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) mount(m, h('div', { class: 'card error', role: 'alert' }, e.message));
  }
}

// Sync button, progress and the events feed.
async function pollSync() {
  try {
    const s = await api.poll('/api/sync');
    const p = document.getElementById('sync-progress'), st = document.getElementById('sync-status');
    p.hidden = !s.running;
    if (s.running && s.total) p.value = Math.round((100 * s.done) / s.total);
    st.textContent = s.running ? `Syncing ${s.done}/${s.total || '…'}` : (s.error ? `Sync failed: ${s.error}` : '');
    document.getElementById('sync-btn').disabled = !!s.running;
    return s.running;
  } catch (e) { return false; }
}

async function pollEvents() {
  try {
    const r = await api.poll(`/api/events?since=${state.eventSeq}`);
    let fresh = false;
    for (const ev of r.events || []) {
      if (ev.seq <= state.eventSeq) continue;
      toast(ev.text, ev.type === 'failed' || ev.type === 'alarm' ? 'error' : '');
      if (ev.type === 'new_mail') fresh = true;
    }
    state.eventSeq = r.seq || state.eventSeq;
    if (fresh) { await loadFolders(); if (location.hash.startsWith('#/mail/')) window.dispatchEvent(new CustomEvent('qm-refresh')); }
  } catch (e) { /* shown by the next call */ }
}

export async function pollKme() {
  const pill = document.getElementById('kme-pill'), alarm = document.getElementById('alarm');
  if (!state.account) return null;
  try {
    const k = await api.poll(`/api/kme?account=${encodeURIComponent(state.account)}`);
    pill.className = `pill ${k.alarm ? 'pill-alarm' : (k.reachable ? 'pill-ok' : 'pill-off')}`;
    pill.textContent = k.alarm ? 'KME ALARM' : (k.reachable ? 'KME ok' : (k.url ? 'KME offline' : 'no KME'));
    pill.title = k.reachable ? 'Key manager status' : (k.message || 'Key manager status');
    if (k.alarm) {
      mount(alarm, h('strong', {}, 'Eavesdropping alarm: '), k.alarm_text || `The quantum link reports a QBER of ${(100 * (k.qber || 0)).toFixed(1)}%, above the safe limit. No new QKD keys are produced; levels 1 and 2 are unavailable until the link is secure again.`,
        ' ', h('a', { href: '#/kme' }, 'Open the key manager'));
      alarm.hidden = false;
    } else alarm.hidden = true;
    return k;
  } catch (e) { pill.className = 'pill pill-off'; pill.textContent = 'KME ?'; return null; }
}

function startPolling() {
  state.timers.forEach(clearInterval);
  state.timers = [setInterval(pollSync, 3000), setInterval(pollEvents, 2000), setInterval(pollKme, 15000)];
  pollSync(); pollEvents(); pollKme();
}

async function doSync() {
  try {
    await api.post('/api/sync', state.account ? { account: state.account } : {});
    toast('Sync started');
    const t = setInterval(async () => { if (!(await pollSync())) { clearInterval(t); await loadFolders(); window.dispatchEvent(new CustomEvent('qm-refresh')); } }, 700);
  } catch (e) { toast(e.message, 'error'); }
}

async function doLock() {
  try { await api.post('/api/lock', {}); } catch (e) { /* already locked */ }
  locked();
}

function locked() {
  state.unlocked = false;
  state.timers.forEach(clearInterval);
  state.timers = [];
  refreshState().then(() => showUnlock(!state.initialized)).catch(() => showUnlock(false));
}

function shortcuts(e) {
  const t = e.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
  if (e.ctrlKey || e.metaKey || e.altKey || !state.unlocked) return;
  if (e.key === '/') { e.preventDefault(); document.getElementById('search').focus(); return; }
  if (e.key === 'c') { location.hash = '#/compose'; return; }
  keyNav(e);
}

async function boot() {
  document.getElementById('sync-btn').addEventListener('click', doSync);
  document.getElementById('lock-btn').addEventListener('click', doLock);
  document.getElementById('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = document.getElementById('search').value.trim();
    window.dispatchEvent(new CustomEvent('qm-search', { detail: q }));
    if (!location.hash.startsWith('#/mail/')) location.hash = '#/mail/INBOX';
  });
  window.addEventListener('hashchange', route);
  window.addEventListener('qm-locked', () => { if (state.unlocked) { toast('Your session ended. Unlock again.', 'error'); locked(); } });
  document.addEventListener('keydown', shortcuts);
  try {
    await refreshState();
  } catch (e) {
    mount(main(), h('div', { class: 'card error', role: 'alert' }, e.message));
    return;
  }
  if (state.unlocked) await afterUnlock(false);
  else showUnlock(!state.initialized);
}

boot();
