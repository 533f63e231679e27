// SPDX-License-Identifier: MIT
// The mailbox: the message list (keyset paging, search, unread state,
// badges with explanations) and the reader (headers, text, sanitised HTML
// in a sandboxed iframe, attachments, the security details panel, reply,
// forward, delete, move, mark). Keyboard: j/k move, Enter opens, r reply,
// a reply all, f forward, # or Delete deletes, u toggles unread.
import { api, qs } from './api.js';
import { h, mount, clear, toast, fmtDate, fmtBytes, addrText, badge, BADGES } from './ui.js';
import { state, loadFolders } from './app.js';

const view = { folder: 'INBOX', q: '', cursors: [''], page: 0, rows: [], selected: -1, open: null, total: 0 };

window.addEventListener('qm-search', (e) => { view.q = e.detail; view.cursors = ['']; view.page = 0; if (view.el) loadList(); });
window.addEventListener('qm-refresh', () => { if (view.el && document.body.contains(view.el)) loadList(); });

export async function showMailbox(root, folder, id) {
  if (folder !== view.folder) { view.folder = folder; view.cursors = ['']; view.page = 0; view.q = ''; document.getElementById('search').value = ''; }
  const list = h('div', { class: 'msglist', id: 'msglist' });
  const reader = h('section', { class: 'reader', id: 'reader', 'aria-label': 'Message' },
    h('p', { class: 'empty' }, 'Select a message to read it.'));
  view.el = h('div', { class: 'mailbox' }, list, reader);
  mount(root, view.el);
  await loadList();
  if (id) await openMessage(id);
}

async function loadList() {
  const list = document.getElementById('msglist');
  if (!list) return;
  const t0 = performance.now();
  let r;
  try {
    r = await api.get(`/api/messages${qs({ account: state.account, folder: view.folder, limit: 50, cursor: view.cursors[view.page], q: view.q })}`);
  } catch (e) { mount(list, h('p', { class: 'error', role: 'alert' }, e.message)); return; }
  view.rows = r.messages || [];
  view.total = r.total || 0;
  view.next = r.next_cursor;
  const title = view.folder === 'INBOX' ? 'Inbox' : view.folder;
  const head = h('div', { class: 'listhead' },
    h('h1', {}, view.q ? `Search: ${view.q}` : title),
    h('span', { class: 'muted' }, `${view.total.toLocaleString()} messages${r.unread ? `, ${r.unread.toLocaleString()} unread` : ''}`));
  const ul = h('ul', { class: 'rows', role: 'listbox', 'aria-label': `${title} messages`, tabindex: '0', id: 'rows' });
  view.rows.forEach((m, i) => ul.appendChild(row(m, i)));
  if (!view.rows.length) ul.appendChild(h('li', { class: 'empty' }, view.q ? 'No message matches.' : 'No messages here.'));
  const pager = h('div', { class: 'pager' },
    h('button', { class: 'btn ghost', type: 'button', disabled: view.page === 0 ? true : null, onclick: () => { view.page--; loadList(); } }, '‹ Newer'),
    h('span', { class: 'muted' }, `Page ${view.page + 1}`),
    h('button', { class: 'btn ghost', type: 'button', disabled: view.next ? null : true, onclick: () => { view.cursors[view.page + 1] = view.next; view.page++; loadList(); } }, 'Older ›'));
  mount(list, head, ul, pager);
  list.dataset.renderMs = String(Math.round(performance.now() - t0));
  ul.addEventListener('keydown', (e) => keyNav(e));
}

// What the list and the reader call a message: a tampered or replayed
// message has no trustworthy subject, so it is not shown.
function subjectOf(m) {
  const b = (m.security || {}).badge;
  if (b === 'tampered') return 'Content hidden: this message failed its integrity check';
  if (b === 'replay') return 'Refused: this message reuses a key already used';
  return m.subject || '(no subject)';
}

// The signing key of a level-3/4 message and its trust now: an unverified
// or changed key never looks like a verified one.
const SIGNER = {
  verified: ['verified', 'signer-verified'],
  unverified: ['NOT VERIFIED: compare the fingerprint with the sender in the Keyring before trusting who sent it', 'signer-warn'],
  changed: ['KEY CHANGED: the contact presents another key since, not decided on yet (Keyring)', 'signer-warn'],
  retired: ['replaced since by the key you verified', ''],
  unknown: ['no longer in your keyring', 'signer-warn'],
};

function signerLine(s) {
  const t = SIGNER[s.trust] || SIGNER.unknown;
  return [h('dt', {}, 'Signed by'), h('dd', { class: `signer ${t[1]}`, id: 'signer' }, `${s.address ? `${s.address} · ` : ''}`, h('span', { class: 'mono' }, s.fingerprint), ` — ${t[0]}`)];
}

async function retry(m) {
  try {
    const r = await api.post(`/api/messages/${encodeURIComponent(m.id)}/retry`, {});
    toast(r.explanation || r.status, r.status === 'verified' || r.status === 'plain' ? 'ok' : 'error');
    loadList();
    openMessage(r.id);
  } catch (e) { toast(e.message, 'error'); }
}

function row(m, i) {
  const li = h('li', {
    class: `row${m.seen ? '' : ' unread'}`, role: 'option', id: `row-${m.id}`, 'aria-selected': 'false', dataset: { id: m.id, i: String(i) },
    onclick: () => { select(i); openMessage(m.id); },
  },
  h('span', { class: 'from' }, m.from ? (m.from.name || m.from.address) : ''),
  h('span', { class: 'subject' }, subjectOf(m)),
  m.has_attachments ? h('img', { class: 'clip', src: '/clip.svg', alt: 'has attachments', title: 'Has attachments', width: '16', height: '16' }) : h('span', { class: 'clip' }),
  badge(m.security),
  h('time', { class: 'date', datetime: new Date(m.date * 1000).toISOString() }, fmtDate(m.date)));
  li.setAttribute('aria-label', `${m.seen ? '' : 'Unread. '}From ${m.from ? addrText(m.from) : 'unknown'}. ${subjectOf(m)}. ${(BADGES[(m.security || {}).badge] || BADGES.plain)[0]}. ${fmtDate(m.date)}`);
  return li;
}

function select(i) {
  const ul = document.getElementById('rows');
  if (!ul || !view.rows.length) return;
  i = Math.max(0, Math.min(view.rows.length - 1, i));
  ul.querySelectorAll('[aria-selected="true"]').forEach((e) => e.setAttribute('aria-selected', 'false'));
  const li = ul.querySelector(`[data-i="${i}"]`);
  if (li) { li.setAttribute('aria-selected', 'true'); ul.setAttribute('aria-activedescendant', li.id); li.scrollIntoView({ block: 'nearest' }); }
  view.selected = i;
}

export function keyNav(e) {
  if (!location.hash.startsWith('#/mail/') || !view.rows) return;
  const cur = view.rows[view.selected];
  switch (e.key) {
    case 'j': case 'ArrowDown': e.preventDefault(); select(view.selected + 1); break;
    case 'k': case 'ArrowUp': e.preventDefault(); select(view.selected - 1); break;
    case 'Enter': case 'o': if (cur) openMessage(cur.id); break;
    case 'r': if (view.open) reply('reply'); break;
    case 'a': if (view.open) reply('all'); break;
    case 'f': if (view.open) reply('forward'); break;
    case '#': case 'Delete': if (view.open) del(); break;
    case 'u': if (view.open) mark({ seen: !view.open.seen }); break;
    default:
  }
}

async function openMessage(id) {
  const reader = document.getElementById('reader');
  if (!reader) return;
  mount(reader, h('p', { class: 'muted' }, 'Opening…'));
  let m;
  try { m = await api.get(`/api/messages/${encodeURIComponent(id)}`); } catch (e) { mount(reader, h('p', { class: 'error', role: 'alert' }, e.message)); return; }
  view.open = m;
  const li = document.getElementById(`row-${m.id}`);
  if (li) li.classList.remove('unread');
  history.replaceState(null, '', `#/mail/${encodeURIComponent(view.folder)}/${encodeURIComponent(m.id)}`);
  renderMessage(reader, m, false);
}

function renderMessage(reader, m, remote) {
  const d = m.details || {};
  const bad = ['tampered', 'replay', 'waiting', 'unreadable', 'no_key', 'refused'].includes(d.status);
  const actions = h('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Message actions' },
    h('button', { class: 'btn', type: 'button', onclick: () => reply('reply'), disabled: bad ? true : null, title: 'Reply (r)' }, 'Reply'),
    h('button', { class: 'btn', type: 'button', onclick: () => reply('all'), disabled: bad ? true : null, title: 'Reply all (a)' }, 'Reply all'),
    h('button', { class: 'btn', type: 'button', onclick: () => reply('forward'), disabled: bad ? true : null, title: 'Forward (f)' }, 'Forward'),
    h('button', { class: 'btn', type: 'button', onclick: () => mark({ seen: !m.seen }), title: 'Mark unread (u)' }, m.seen ? 'Mark unread' : 'Mark read'),
    d.retryable ? h('button', { class: 'btn', type: 'button', id: 'retry', onclick: () => retry(m), title: 'Try once more to open it from the copy kept' }, 'Try again') : null,
    moveSelect(),
    h('button', { class: 'btn danger', type: 'button', onclick: del, title: 'Delete (#)' }, 'Delete'));
  const headers = h('dl', { class: 'headers' },
    h('dt', {}, 'From'), h('dd', {}, addrText(m.from)),
    h('dt', {}, 'To'), h('dd', {}, (m.to || []).map(addrText).join(', ')),
    (m.cc && m.cc.length) ? [h('dt', {}, 'Cc'), h('dd', {}, m.cc.map(addrText).join(', '))] : null,
    h('dt', {}, 'Date'), h('dd', {}, m.date ? new Date(m.date * 1000).toLocaleString() : ''),
    d.signer ? signerLine(d.signer) : null);
  let body;
  if (bad) {
    const b = BADGES[(m.security || {}).badge] || BADGES[d.status] || BADGES.tampered;
    body = h('div', { class: 'card error', role: 'alert' }, b[1], h('p', { class: 'small' }, d.explanation || ''));
  } else if (m.has_html) {
    const src = `/api/messages/${encodeURIComponent(m.id)}/html${remote ? '?remote=1' : ''}`;
    body = h('div', {},
      h('iframe', { class: 'htmlmail', sandbox: 'allow-popups allow-popups-to-escape-sandbox', src, title: 'Message content (sanitised HTML)', referrerpolicy: 'no-referrer' }),
      remote || !state.remoteImages ? null : h('button', { class: 'btn ghost small', type: 'button', onclick: () => renderMessage(reader, m, true), title: 'Remote images can tell the sender when and where you read this message.' }, 'Show remote images'),
      h('details', {}, h('summary', {}, 'Show as plain text'), h('pre', { class: 'text' }, m.text || '')));
  } else {
    body = h('pre', { class: 'text' }, m.text || '');
  }
  const atts = (m.attachments || []).length ? h('ul', { class: 'attachments', 'aria-label': 'Attachments' },
    m.attachments.map(attItem.bind(null, m))) : null;
  const details = h('details', { class: 'secdetails' }, h('summary', {}, 'Security details'),
    h('dl', {},
      h('dt', {}, 'Level'), h('dd', {}, d.level ? (BADGES[`l${d.level}`] || BADGES.plain)[1] : 'none: not encrypted'),
      h('dt', {}, 'Result'), h('dd', {}, d.explanation || d.status || ''),
      d.key_ids && d.key_ids.length ? [h('dt', {}, `Key IDs (${d.key_count || d.key_ids.length})`), h('dd', { class: 'mono' }, d.key_ids.join(' '))] : null,
      d.sender_sae ? [h('dt', {}, 'Sender SAE'), h('dd', { class: 'mono' }, d.sender_owner ? `${d.sender_sae} (confirmed for ${d.sender_owner})` : d.sender_sae)] : null,
      d.signer ? [h('dt', {}, 'Signer'), h('dd', { class: 'mono' }, `${d.signer.fingerprint} (${d.signer.trust})`)] : null,
      d.error ? [h('dt', {}, 'Error'), h('dd', {}, d.error)] : null));
  const keyBadge = (m.security || {}).signer === 'unverified' ? badge({ badge: 'keyunverified' })
    : (m.security || {}).signer === 'changed' ? badge({ badge: 'keychanged' }) : null;
  const warn = d.status === 'unverified_sender'
    ? h('div', { class: 'card error', role: 'alert', id: 'unverified-sender' }, BADGES.unverified[1], h('p', { class: 'small' }, d.explanation || '')) : null;
  mount(reader, actions, h('h2', { class: 'subject' }, subjectOf(m), ' ', badge(m.security), keyBadge ? ' ' : null, keyBadge), headers, warn, details, atts, body);
}

// One attachment. The engine sends its name display-safe (a direction
// control such as U+202E, which makes "invoice<U+202E>fdp.exe" look like
// "invoiceexe.pdf", arrives as a visible "[U+202E]"), its real extension
// and the type the sender declared; a disguised name gets a warning that
// names the real extension.
function attItem(m, a) {
  const ext = a.extension ? `.${a.extension}` : 'none';
  return h('li', {},
    h('a', { href: `/api/messages/${encodeURIComponent(m.id)}/attachments/${a.index}`, download: a.name, class: 'att' }, h('img', { src: '/clip.svg', alt: '', width: '14', height: '14' }), ` ${a.name}`),
    h('span', { class: 'muted' }, ` ${fmtBytes(a.size)} · extension ${ext} · declared ${a.type || 'no type'}`),
    a.disguised ? h('p', { class: 'attwarn', role: 'note' }, `Careful: this name holds invisible control or direction characters (shown as [U+…]). Its real extension is ${ext}.`) : null);
}

function moveSelect() {
  const folders = state.folders.filter((f) => f.name !== view.folder);
  if (!folders.length) return null;
  const sel = h('select', { 'aria-label': 'Move to folder', onchange: async (e) => {
    if (!e.target.value) return;
    try { await api.post(`/api/messages/${encodeURIComponent(view.open.id)}/move`, { folder: e.target.value }); toast(`Moved to ${e.target.value}`); afterRemove(); } catch (err) { toast(err.message, 'error'); }
  } }, h('option', { value: '' }, 'Move to…'), folders.map((f) => h('option', { value: f.name }, f.name)));
  return sel;
}

async function mark(flags) {
  try {
    const s = await api.post(`/api/messages/${encodeURIComponent(view.open.id)}/flags`, flags);
    view.open.seen = s.seen;
    const li = document.getElementById(`row-${view.open.id}`);
    if (li) li.classList.toggle('unread', !s.seen);
    renderMessage(document.getElementById('reader'), view.open, false);
    loadFolders();
  } catch (e) { toast(e.message, 'error'); }
}

async function del() {
  try { await api.del(`/api/messages/${encodeURIComponent(view.open.id)}`); toast('Deleted'); afterRemove(); } catch (e) { toast(e.message, 'error'); }
}

function afterRemove() {
  view.open = null;
  clear(document.getElementById('reader')).appendChild(h('p', { class: 'empty' }, 'Select a message to read it.'));
  history.replaceState(null, '', `#/mail/${encodeURIComponent(view.folder)}`);
  loadList();
  loadFolders();
}

// The message being answered, handed to compose in memory (never stored).
export let replyTo = null;

function reply(kind) {
  replyTo = { kind, m: view.open };
  location.hash = `#/compose/${kind}/${encodeURIComponent(view.open.id)}`;
}
