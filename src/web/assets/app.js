// SPDX-License-Identifier: MIT
// QMail web GUI entry point: session state, the hash router, the shell
// (top bar, sidebar; the folder tree's own controls are folders.js),
// unlock and first-run screens, background polling of
// sync progress, new-mail notices and the KME alarm, keyboard shortcuts.
import { api, setCsrf, ApiError } from './api.js';
import { h, mount, toast, field } from './ui.js';
import { showMailbox, keyNav } from './mail.js';
import { folderMenuButton, newFolderButton, folderUiOpen } from './folders.js';

// The other screens' modules (compose.js, settings.js, wizard.js, kme.js and
// theirs) are loaded when first shown, or once the inbox is on screen: the
// first paint waits only for the inbox's (docs/WEB.md "First paint").
const screens = () => Promise.all([import('./compose.js'), import('./settings.js'), import('./wizard.js'), import('./kme.js'), import('./chat.js')]);

export const state = { unlocked: false, initialized: false, accounts: [], account: '', folders: [], eventSeq: null, timers: [], bootInbox: null, chatUnread: 0 };

// What the server put in the page for an unlocked session (docs/WEB.md
// "First paint"): the state of GET /api/state and the first inbox page,
// so the rows come without another request. Read once, then removed.
function takeBoot() {
  const el = document.getElementById('boot');
  if (!el) return null;
  el.remove();
  try { return JSON.parse(el.textContent); } catch (e) { return null; }
}

function setState(s) {
  setCsrf(s.csrf);
  state.unlocked = s.unlocked;
  state.initialized = s.initialized;
  state.remoteImages = !!s.remote_images;
}

const main = () => document.getElementById('main');

async function refreshState() {
  const s = await api.get('/api/state');
  setState(s);
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
    msg.textContent = first ? 'Creating your keys…' : 'Unlocking…';
    try {
      const r = await api.post(first ? '/api/init' : '/api/unlock', { passphrase: pass.value });
      pass.value = ''; if (pass2) pass2.value = '';
      setCsrf(r.csrf);
      state.unlocked = true;
      await afterUnlock(first);
    } catch (err) {
      msg.textContent = err.message;
      pass.select();
      // too many wrong passphrases: the server waits; so does the button
      if (err.retryAfter > 0) {
        let left = err.retryAfter;
        const tick = () => {
          if (!document.body.contains(btn)) return;
          if (left <= 0) { btn.disabled = false; msg.textContent = ''; return; }
          btn.disabled = true;
          msg.textContent = `Too many wrong passphrases. Try again in ${left} second${left === 1 ? '' : 's'}.`;
          left -= 1;
          setTimeout(tick, 1000);
        };
        tick();
        return;
      }
    }
    btn.disabled = false;
  });
  mount(main(), form);
  pass.focus();
}

async function afterUnlock(first) {
  // The inbox first; folder counts and the pollers after it is on screen.
  // With the inbox in the page, a page opened without a screen named is
  // the inbox at once.
  if (state.bootInbox && (!location.hash || location.hash === '#/unlock')) history.replaceState(null, '', `${location.pathname}${location.search}#/mail/INBOX`);
  if (!first && location.hash.startsWith('#/mail/')) {
    // a reload on the inbox: the list does not need the account list first
    await Promise.all([loadAccounts(false), route()]);
  } else {
    await loadAccounts(false);
    if (first || state.accounts.length === 0) location.hash = '#/wizard';
    else if (!location.hash || location.hash === '#/unlock') location.hash = '#/mail/INBOX';
    else await route();
  }
  state.bootInbox = null; // only for the first list: later ones ask
  requestAnimationFrame(() => { loadFolders(); loadChatCount(); startPolling(); screens().catch(() => {}); });
}

export async function loadAccounts(withFolders = true) {
  const r = await api.get('/api/accounts');
  state.accounts = r.accounts || [];
  if (!state.accounts.find((a) => a.id === state.account)) state.account = state.accounts.length ? state.accounts[0].id : '';
  showSignInBanners();
  if (withFolders) await loadFolders();
}

// The unread count of the account's conversations, for the sidebar's
// Chats entry (the chat module loads with it).
export async function loadChatCount() {
  const { loadChatCount: count } = await import('./chat.js');
  const n = await count(state.account);
  if (n !== state.chatUnread) { state.chatUnread = n; if (state.unlocked) renderSidebar(); }
}

// One banner per account whose OAuth2 sign-in ended (the engine marks it
// when the provider refuses the refresh token); it goes when signed in.
function showSignInBanners() {
  const box = document.getElementById('signin-banners');
  if (!box) return;
  if (!state.accounts.some((a) => a.needs_signin)) { mount(box); return; }
  // the accounts of when the module came, not of when it was asked for
  import('./wizard.js').then(({ signInBanner }) => mount(box, state.accounts.filter((a) => a.needs_signin).map((a) => signInBanner(a))));
}

function navLink(href, label, extra) {
  const current = location.hash === href || (href !== '#/' && location.hash.startsWith(`${href}/`));
  return h('li', {}, h('a', { href, 'aria-current': current ? 'page' : null }, label, extra ? h('span', { class: 'count', 'aria-label': `${extra} unread` }, String(extra)) : null));
}

// The special-use folders, in the order a mail client shows them, with
// the page's names and icons (characters every system font has).
const USES = [
  ['inbox', 'Inbox', '\u2709'], ['drafts', 'Drafts', '\u270E'], ['sent', 'Sent', '\u27A4'],
  ['archive', 'Archive', '\u25A4'], ['all', 'All Mail', '\u25A4'], ['flagged', 'Starred', '\u2605'],
  ['important', 'Important', '\u25C6'], ['junk', 'Junk', '\u26A0'], ['trash', 'Trash', '\u2716'],
];

// The account the sidebar shows, and whether it fetches over POP3.
export function currentAccount() { return state.accounts.find((a) => a.id === state.account) || null; }
export function isPop3() { const a = currentAccount(); return !!a && a.incoming === 'pop3'; }

// The folder of that special use, or null.
export function folderOfUse(use) { return state.folders.find((f) => f.use === use && f.selectable) || null; }

// What the page calls a folder: its special-use name, else its display
// name (the server's, display-safe, shown as text only).
export function folderLabel(name) {
  const f = state.folders.find((x) => x.name === name);
  if (!f) return name === 'INBOX' ? 'Inbox' : name;
  const u = USES.find((x) => x[0] === f.use);
  if (u && (f.use !== 'inbox' || f.name === 'INBOX')) return u[1];
  return f.display || f.name;
}

// One folder link; a drop target for a dragged message row.
function folderLink(f, label, icon, depth) {
  const href = `#/mail/${encodeURIComponent(f.name)}`;
  const current = location.hash === href || location.hash.startsWith(`${href}/`);
  const a = h('a', { href, class: 'folder', 'aria-current': current ? 'page' : null, dataset: { folder: f.name }, title: f.display || f.name },
    h('span', { class: 'ficon', 'aria-hidden': 'true' }, icon),
    h('span', { class: 'fname' }, label),
    f.unread ? h('span', { class: 'count', 'aria-label': `${f.unread} unread` }, String(f.unread)) : null);
  if (depth) a.style.paddingLeft = `${10 + 14 * depth}px`;
  {
    a.addEventListener('dragover', (e) => { if (e.dataTransfer.types.includes('application/x-qmail-id')) { e.preventDefault(); e.dataTransfer.dropEffect = 'move'; a.classList.add('drop'); } });
    a.addEventListener('dragleave', () => a.classList.remove('drop'));
    a.addEventListener('drop', (e) => {
      e.preventDefault(); a.classList.remove('drop');
      const id = e.dataTransfer.getData('application/x-qmail-id');
      if (id) window.dispatchEvent(new CustomEvent('qm-move', { detail: { id, folder: f.name } }));
    });
  }
  return a;
}

// The rest of the folders as a tree by their hierarchy delimiter; a
// parent the server cannot hold mail in (\Noselect) is a plain label.
function folderTree(rest) {
  const root = { kids: new Map() };
  for (const f of rest) {
    const parts = f.delim ? f.name.split(f.delim) : [f.name];
    const shown = f.delim && f.display ? f.display.split(f.delim) : [f.display || f.name];
    let node = root;
    parts.forEach((p, i) => {
      if (!node.kids.has(p)) node.kids.set(p, { label: shown[i] || p, kids: new Map(), f: null });
      node = node.kids.get(p);
    });
    node.f = f;
  }
  const items = [];
  const walk = (node, depth) => {
    for (const [, n] of [...node.kids.entries()].sort((x, y) => x[1].label.localeCompare(y[1].label))) {
      if (n.f && n.f.selectable) items.push(h('li', { class: 'frow' }, folderLink(n.f, n.label, n.kids.size ? '\u25BE' : '\u25AB', depth), folderMenuButton(n.f, n.f.display || n.f.name)));
      else {
        const label = h('span', { class: 'folder nosel' }, h('span', { class: 'ficon', 'aria-hidden': 'true' }, '\u25BE'), h('span', { class: 'fname' }, n.label));
        if (depth) label.style.paddingLeft = `${10 + 14 * depth}px`;
        items.push(h('li', {}, label));
      }
      walk(n, depth + 1);
    }
  };
  walk(root, 0);
  return items;
}

export async function loadFolders() {
  let folders = [];
  if (state.account) {
    try { folders = (await api.get(`/api/folders?account=${encodeURIComponent(state.account)}`)).folders || []; } catch (e) { folders = state.folders; }
  }
  state.folders = folders;
  renderSidebar();
  showTitle();
  window.dispatchEvent(new CustomEvent('qm-folders'));
}

// The tab's title counts the inbox's unread mail, as mail clients do.
function showTitle() {
  const f = state.folders.find((x) => x.name === 'INBOX') || folderOfUse('inbox');
  const n = f ? f.unread : 0;
  document.title = n ? `(${n}) QMail` : 'QMail';
}

export function renderSidebar() {
  const sb = document.getElementById('sidebar');
  const acct = h('select', { 'aria-label': 'Account', onchange: async (e) => { state.account = e.target.value; await loadFolders(); loadChatCount(); location.hash = location.hash.startsWith('#/chats') ? '#/chats' : '#/mail/INBOX'; } },
    state.accounts.map((a) => h('option', { value: a.id, selected: a.id === state.account ? true : null }, a.address)));
  const folders = state.folders.length ? state.folders : [{ name: 'INBOX', display: 'INBOX', use: 'inbox', delim: '', selectable: true, unread: 0 }];
  const special = [], rest = [];
  for (const u of USES) for (const f of folders) if (f.use === u[0] && f.selectable && (u[0] !== 'inbox' || f.name === 'INBOX' || !folders.some((x) => x.name === 'INBOX'))) special.push(folderLink(f, u[1], u[2], 0));
  // the folder chat is filed in is the Chats view's, not a mail folder
  for (const f of folders) if (!f.chats && !special.some((a) => a.dataset.folder === f.name)) rest.push(f);
  const pop3 = isPop3();
  mount(sb,
    h('a', { class: 'btn primary compose-btn', href: '#/compose', onclick: (e) => { if (location.hash === '#/compose') { e.preventDefault(); openCompose(); } } }, 'Compose'),
    state.accounts.length > 1 ? acct : null,
    // Mail and Chats: two views of the same engine (docs/CHAT.md)
    h('ul', { class: 'nav views', 'aria-label': 'Views' },
      h('li', {}, h('a', { href: '#/mail/INBOX', 'aria-current': location.hash.startsWith('#/mail/') || !location.hash ? 'page' : null }, 'Mail')),
      h('li', {}, h('a', { href: '#/chats', id: 'chats-link', 'aria-current': location.hash.startsWith('#/chats') ? 'page' : null }, 'Chats',
        state.chatUnread ? h('span', { class: 'count', 'aria-label': `${state.chatUnread} unread` }, String(state.chatUnread)) : null))),
    h('h2', { class: 'nav-title' }, 'Folders'),
    h('ul', { class: 'nav folders', id: 'folders' }, special.map((a) => h('li', {}, a)), folderTree(rest)),
    newFolderButton(),
    pop3 ? h('p', { class: 'small muted pop3note', id: 'pop3-note' }, 'This account fetches mail over POP3: the server keeps one folder, the inbox, and no flags. Its other folders, read and star marks are kept in QMail on this computer only: another mail program does not see them.') : null,
    h('h2', { class: 'nav-title' }, 'Tools'),
    h('ul', { class: 'nav' },
      navLink('#/outbox', 'Outbox'), navLink('#/drafts', 'Drafts'), navLink('#/kme', 'Key manager'),
      navLink('#/keyring', 'Keyring'), navLink('#/settings', 'Settings'),
      h('li', {}, h('a', { href: '#', id: 'help-link', onclick: (e) => { e.preventDefault(); showHelp(); } }, 'Keyboard shortcuts (?)'))));
  sb.hidden = false;
  document.getElementById('topbar').hidden = false;
}

// Compose: a new form, also when one is open (that one is kept in Drafts).
async function openCompose() {
  if (document.body.classList.contains('nav-open')) setNav(false);
  if (location.hash !== '#/compose') { location.hash = '#/compose'; return; }
  const { composeNew } = await import('./compose.js');
  await composeNew(() => mount(main(), h('div', { class: 'view' })).firstChild);
}

// The keyboard shortcuts, on screen (`?`); docs/WEB.md lists the same.
export const KEYS = [
  ['j / k', 'next / previous message'], ['x or Enter', 'open the selected message'], ['s', 'star or unstar'],
  ['u', 'mark read or unread'], ['e', 'archive'], ['#', 'delete (to Trash)'], ['!', 'junk'], ['m', 'move to a folder'],
  ['t', 'threads on or off'], ['o', 'expand or collapse a conversation'],
  ['r / a / f', 'reply / reply all / forward'], ['c', 'compose'], ['/', 'search'], ['?', 'this help'], ['Esc', 'close a menu or this help'],
];

export function showHelp() {
  if (document.getElementById('help')) return;
  const close = () => { dlg.remove(); if (prev) prev.focus(); };
  const prev = document.activeElement;
  const btn = h('button', { class: 'btn', type: 'button', onclick: close }, 'Close');
  const dlg = h('div', { class: 'help', id: 'help', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'help-title', onkeydown: (e) => { if (e.key === 'Escape' || e.key === '?') { e.preventDefault(); e.stopPropagation(); close(); } } },
    h('div', { class: 'card' }, h('h2', { id: 'help-title' }, 'Keyboard shortcuts'),
      h('dl', { class: 'keys' }, KEYS.map((k) => [h('dt', {}, h('kbd', {}, k[0])), h('dd', {}, k[1])])), btn));
  document.body.appendChild(dlg);
  btn.focus();
}

// The drawer of phone and tablet widths (style.css): the menu button
// opens it, a link, the scrim or Escape closes it.
export function setNav(open) {
  const btn = document.getElementById('menu-btn');
  document.body.classList.toggle('nav-open', open);
  btn.setAttribute('aria-expanded', open ? 'true' : 'false');
  document.getElementById('scrim').hidden = !open;
  if (open) { const a = document.querySelector('#sidebar a, #sidebar button'); if (a) a.focus(); } else if (document.getElementById('sidebar').contains(document.activeElement)) btn.focus();
}

export async function route() {
  if (document.body.classList.contains('nav-open')) setNav(false);
  if (!state.unlocked) { showUnlock(!state.initialized); return; }
  const parts = (location.hash || '#/mail/INBOX').slice(2).split('/').map(decodeURIComponent);
  renderSidebar();
  // each screen renders into its own box: a screen still loading when
  // the person has moved on lands in a box no longer on the page, never
  // over the screen asked for since
  const m = h('div', { class: 'view' });
  mount(main(), m);
  try {
    switch (parts[0]) {
      case 'mail': await showMailbox(m, parts[1] || 'INBOX', parts[2] || ''); break;
      case 'compose': await (await import('./compose.js')).showCompose(m, parts[1] || '', parts[2] || ''); break;
      case 'outbox': await (await import('./settings.js')).showOutbox(m); break;
      case 'drafts': await (await import('./settings.js')).showDrafts(m); break;
      case 'settings': await (await import('./settings.js')).showSettings(m); break;
      case 'keyring': await (await import('./settings.js')).showKeyring(m); break;
      case 'safety': await (await import('./settings.js')).showSafety(m, parts[1] || ''); break;
      case 'wizard': await (await import('./wizard.js')).showWizard(m); break;
      case 'kme': await (await import('./kme.js')).showKme(m); break;
      case 'chats': await (await import('./chat.js')).showChats(m, state.account, parts[1] || ''); break;
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
    st.title = st.textContent; // the whole of a long message
    document.getElementById('sync-btn').disabled = !!s.running;
    return s.running;
  } catch (e) { return false; }
}

async function pollEvents() {
  try {
    // the first poll of a page only learns where the feed stands: what
    // happened before the page was opened is not news
    const first = state.eventSeq === null;
    const r = await api.poll(first ? '/api/events' : `/api/events?since=${state.eventSeq}`);
    let fresh = false, chat = false, chatText = '';
    for (const ev of first ? [] : r.events || []) {
      if (ev.seq <= state.eventSeq) continue;
      toast(ev.text, ev.type === 'failed' || ev.type === 'alarm' ? 'error' : '');
      if (ev.type === 'new_mail') fresh = true;
      // chat filed, or the outbox sent: the Chats view and its counts
      if (ev.type === 'chat' || ev.type === 'sent') chat = true;
      if (ev.type === 'chat')
	      chatText = ev.text;
      if (ev.type === 'signin') await loadAccounts(false);
    }
    state.eventSeq = r.seq || state.eventSeq || 0;
    if (fresh) { await loadFolders(); if (location.hash.startsWith('#/mail/')) window.dispatchEvent(new CustomEvent('qm-refresh')); }
    if (chat || fresh) {
      await loadChatCount();
      if (location.hash.startsWith('#/chats')) await (await import('./chat.js')).chatNews();
    }
    // a desktop notification when the page is hidden (the person's
    // choice in the Chats view; nothing when not asked for)
    if (chatText)
	    await (await import('./chat.js'))
		.chatNotify(state.account, chatText);
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
  document.title = 'QMail';
  state.timers.forEach(clearInterval);
  state.timers = [];
  refreshState().then(() => showUnlock(!state.initialized)).catch(() => showUnlock(false));
}

function shortcuts(e) {
  const t = e.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
  if (e.ctrlKey || e.metaKey || e.altKey || !state.unlocked) return;
  if (e.key === '/') { e.preventDefault(); document.getElementById('search').focus(); return; }
  if (e.key === 'c') { openCompose(); return; }
  if (e.key === '?') { e.preventDefault(); showHelp(); return; }
  if (document.getElementById('help') || folderUiOpen()) return;
  keyNav(e);
}

async function boot() {
  document.getElementById('sync-btn').addEventListener('click', doSync);
  document.getElementById('lock-btn').addEventListener('click', doLock);
  document.getElementById('menu-btn').addEventListener('click', () => setNav(!document.body.classList.contains('nav-open')));
  document.getElementById('scrim').addEventListener('click', () => setNav(false));
  document.getElementById('sidebar').addEventListener('keydown', (e) => { if (e.key === 'Escape' && document.body.classList.contains('nav-open')) { e.preventDefault(); setNav(false); } });
  // a link to the page already shown still closes the drawer
  document.getElementById('sidebar').addEventListener('click', (e) => { if (e.target.closest('a[href^="#/"]') && document.body.classList.contains('nav-open')) setNav(false); });
  document.getElementById('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = document.getElementById('search').value.trim();
    window.dispatchEvent(new CustomEvent('qm-search', { detail: q }));
    if (!location.hash.startsWith('#/mail/')) location.hash = '#/mail/INBOX';
  });
  // `qmail web` after `qmail unlock` prints a link whose fragment carries
  // a token (never sent in a URL): taken off the address at once, then
  // traded for a session that uses the unlock agent's key
  const agent = /^#agent=([0-9a-f]{64})$/.exec(location.hash);
  if (agent)
	  history.replaceState(null, '', location.pathname + location.search);
  window.addEventListener('hashchange', route);
  // a conversation read: its count, and the folders' (their unread counts)
  window.addEventListener('qm-chat-read', () => { loadChatCount(); loadFolders(); });
  window.addEventListener('qm-locked', () => { if (state.unlocked) { toast('Your session ended. Unlock again.', 'error'); locked(); } });
  document.addEventListener('keydown', shortcuts);
  const booted = takeBoot();
  try {
    if (booted && booted.state) {
      setState(booted.state);
      state.bootInbox = booted.inbox || null;
    } else await refreshState();
  } catch (e) {
    mount(main(), h('div', { class: 'card error', role: 'alert' }, e.message));
    return;
  }
  if (!state.unlocked && agent && state.initialized) {
	  try {
		  const r = await api.post('/api/unlock', {agent : agent[1]});
		  setCsrf(r.csrf);
		  state.unlocked = true;
	  } catch (err) {
		  toast(err.message, 'error');
	  }
  }
  if (state.unlocked) await afterUnlock(false);
  else showUnlock(!state.initialized);
}

boot();
