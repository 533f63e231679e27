// SPDX-License-Identifier: MIT
// The mailbox: the message list (keyset paging, search, sort, threads,
// unread and star toggles on each row, badges with explanations) and the
// reader (headers, text, sanitised HTML in a sandboxed iframe,
// attachments, the security details panel, the conversation, reply,
// forward, star, read, move, archive, junk, delete). Keyboard: the KEYS
// of app.js (j/k, x/Enter, s, u, e, #, !, m, t, o, r, a, f).
import { api, qs } from './api.js';
import { h, mount, clear, toast, fmtDate, fmtWhen, fmtCount, fmtBytes, addrText, badge, BADGES } from './ui.js';
import { state, loadFolders, folderLabel, folderOfUse, isPop3 } from './app.js';

// the assets' own folder (/v/VERSION/, cached for good)
const CLIP = new URL('clip.svg', import.meta.url).pathname;
const saved = (() => { try { return JSON.parse(localStorage.getItem('qm-list') || '{}'); } catch (e) { return {}; } })();
const view = {
  folder: 'INBOX', q: '', cursors: [''], page: 0, rows: [], selected: -1, open: null, total: 0,
  sort: saved.sort || 'date', unreadFirst: !!saved.unreadFirst, threads: !!saved.threads, expanded: new Set(), thread: null,
};

window.addEventListener('qm-search', (e) => { view.q = e.detail; view.cursors = ['']; view.page = 0; if (view.el) loadList(); });
window.addEventListener('qm-refresh', () => { if (view.el && document.body.contains(view.el)) loadList(); });
window.addEventListener('qm-move', (e) => moveTo(e.detail.id, e.detail.folder));

export async function showMailbox(root, folder, id) {
  if (folder !== view.folder) { view.folder = folder; view.cursors = ['']; view.page = 0; view.q = ''; view.expanded.clear(); document.getElementById('search').value = ''; }
  const list = h('div', { class: 'msglist', id: 'msglist' });
  const reader = h('section', { class: 'reader', id: 'reader', 'aria-label': 'Message' },
    h('p', { class: 'empty' }, 'Select a message to read it.'));
  view.el = h('div', { class: 'mailbox' }, list, splitter(), reader);
  if (saved.listw) view.el.style.setProperty('--listw', `${saved.listw}%`);
  if (!id) view.open = null;
  mount(root, view.el);
  await loadList();
  if (id) await openMessage(id);
}

// The handle between the list and the reader: dragged, or moved with the
// arrow keys; the width is kept for the next visit.
function splitter() {
  const min = 25, max = 70;
  let now = saved.listw || 42;
  const el = h('div', { class: 'splitter', role: 'separator', tabindex: '0', 'aria-orientation': 'vertical', 'aria-label': 'Width of the message list',
    'aria-valuemin': String(min), 'aria-valuemax': String(max), 'aria-valuenow': String(Math.round(now)), title: 'Drag to resize the list' });
  const set = (v) => {
    now = Math.max(min, Math.min(max, v));
    view.el.style.setProperty('--listw', `${now}%`);
    el.setAttribute('aria-valuenow', String(Math.round(now)));
    saved.listw = now;
    saveListPrefs();
  };
  el.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowLeft') { e.preventDefault(); e.stopPropagation(); set(now - 3); } else if (e.key === 'ArrowRight') { e.preventDefault(); e.stopPropagation(); set(now + 3); }
  });
  el.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    el.setPointerCapture(e.pointerId);
    const box = view.el.getBoundingClientRect();
    const move = (ev) => set((100 * (ev.clientX - box.left)) / box.width);
    const up = () => { el.removeEventListener('pointermove', move); el.removeEventListener('pointerup', up); };
    el.addEventListener('pointermove', move);
    el.addEventListener('pointerup', up);
  });
  return el;
}

// Whether the list and the reader share the screen (see style.css).
export function narrow() { return window.matchMedia('(max-width: 720px)').matches; }

// Sort: the engine's orders (src/client/thread.c) by the list API.
const SORTS = [
  ['date', 'Newest first'], ['date-asc', 'Oldest first'], ['from', 'Sender'], ['subject', 'Subject'], ['size', 'Size'],
];

function saveListPrefs() {
  try { localStorage.setItem('qm-list', JSON.stringify({ sort: view.sort, unreadFirst: view.unreadFirst, threads: view.threads, listw: saved.listw })); } catch (e) { /* private mode */ }
}

function relist() { view.cursors = ['']; view.page = 0; saveListPrefs(); loadList(); }

function listControls() {
  const sel = h('select', { id: 'sort', 'aria-label': 'Sort by', onchange: (e) => { view.sort = e.target.value; relist(); } },
    SORTS.map(([v, l]) => h('option', { value: v, selected: v === view.sort ? true : null }, l)));
  const uf = h('input', { type: 'checkbox', id: 'unread-first', checked: view.unreadFirst, onchange: (e) => { view.unreadFirst = e.target.checked; relist(); } });
  const th = h('input', { type: 'checkbox', id: 'threads', checked: view.threads, onchange: (e) => { view.threads = e.target.checked; relist(); } });
  return h('div', { class: 'listctl' }, sel,
    h('label', { class: 'chk' }, uf, ' Unread first'),
    h('label', { class: 'chk', title: 'Group the list by conversation (t)' }, th, ' Threads'));
}

async function loadList() {
  const list = document.getElementById('msglist');
  if (!list) return;
  const t0 = performance.now();
  const [sort, dir] = view.sort === 'date-asc' ? ['date', 'asc'] : [view.sort, ''];
  let r;
  // the first inbox page the server put in the page, when this is it
  const b = state.bootInbox;
  state.bootInbox = null;
  if (b && b.folder === view.folder && (!state.account || state.account === b.account) && !view.q && view.page === 0
    && view.sort === 'date' && !view.unreadFirst && !view.threads) r = b.page;
  else try {
    r = await api.get(`/api/messages${qs({
      account: state.account, folder: view.folder, limit: 50, cursor: view.cursors[view.page], q: view.q,
      sort: sort === 'date' ? '' : sort, dir, unread_first: view.unreadFirst ? 1 : '', threads: view.threads ? 1 : '',
    })}`);
  } catch (e) { mount(list, h('p', { class: 'error', role: 'alert' }, e.message)); return; }
  view.threadList = r.threads || null;
  view.total = r.total || 0;
  view.next = r.next_cursor;
  const title = folderLabel(view.folder);
  const head = h('div', { class: 'listhead' },
    h('h1', {}, view.q ? `Search: ${view.q}` : title),
    h('span', { class: 'muted', id: 'list-counts' }, `${fmtCount(view.total)} messages${r.unread ? `, ${fmtCount(r.unread)} unread` : ''}`));
  const ul = h('ul', { class: 'rows', role: 'listbox', 'aria-label': `${title} messages`, tabindex: '0', id: 'rows' });
  view.ul = ul;
  renderRows(r);
  const note = r.window ? h('p', { class: 'small muted window' }, 'Sorted and threaded lists cover the newest 1,000 messages of the folder; choose Newest first without threads to page through all of them.') : null;
  const byDate = view.sort === 'date' && !view.threads && !view.unreadFirst;
  const pager = h('div', { class: 'pager' },
    h('button', { class: 'btn ghost', type: 'button', disabled: view.page === 0 ? true : null, onclick: () => { view.page--; loadList(); } }, byDate ? '‹ Newer' : '‹ Previous'),
    h('span', { class: 'muted' }, `Page ${view.page + 1}`),
    h('button', { class: 'btn ghost', type: 'button', disabled: view.next ? null : true, onclick: () => { view.cursors[view.page + 1] = view.next; view.page++; loadList(); } }, byDate ? 'Older ›' : 'Next ›'));
  mount(list, head, listControls(), ul, note, pager);
  if (view.selected >= 0) select(view.selected);
  list.dataset.renderMs = String(Math.round(performance.now() - t0));
}

// The visible rows: messages, or conversations with their expanded
// replies. view.rows holds what j/k walk through: {m, t (thread), head}.
function renderRows(r) {
  const ul = view.ul;
  const keep = view.rows[view.selected] ? view.rows[view.selected].m.id : null;
  const before = view.rows.map((x) => x.m);
  clear(ul);
  view.rows = [];
  if (view.threadList) {
    for (const t of view.threadList) {
      const first = t.messages.find((m) => m.id === t.first) || t.messages[0];
      if (!first) continue;
      const key = t.first;
      const open = view.expanded.has(key);
      addRow(first, { t, head: true, open });
      if (open && t.messages.length > 1) for (const m of t.messages) addRow(m, { t, head: false });
    }
  } else {
    for (const m of (r ? r.messages : before) || []) addRow(m, {});
  }
  if (!view.rows.length) ul.appendChild(h('li', { class: 'empty' }, view.q ? 'No message matches.' : 'No messages here.'));
  const i = keep ? view.rows.findIndex((x) => x.m.id === keep) : -1;
  view.selected = -1;
  if (i >= 0) select(i);
}

// A tampered or replayed message has no trustworthy subject, so it is not
// shown.
function subjectOf(m) {
  const b = (m.security || {}).badge;
  if (b === 'tampered') return 'Content hidden: this message failed its integrity check';
  if (b === 'replay') return 'Refused: this message reuses a key already used';
  return m.subject || '(no subject)';
}

// The star and read marks of a row: mouse targets only (a control inside
// a listbox option is not allowed); the keyboard has s and u, and the
// reader has the same actions as buttons.
function starMark(m) {
  return h('span', {
    class: `star${m.flagged ? ' on' : ''}`, 'aria-hidden': 'true', title: m.flagged ? 'Remove the star (s)' : 'Star (s)',
    onclick: (e) => { e.stopPropagation(); setFlags(m, { flagged: !m.flagged }); },
  }, m.flagged ? '\u2605' : '\u2606');
}

function readMark(m) {
  return h('span', {
    class: `dot${m.seen ? '' : ' on'}`, 'aria-hidden': 'true', title: m.seen ? 'Mark unread (u)' : 'Mark read (u)',
    onclick: (e) => { e.stopPropagation(); setFlags(m, { seen: !m.seen }); },
  }, m.seen ? '\u25CB' : '\u25CF');
}

// A person as the page shows them: the name when there is one, with the
// address on hover; else the address.
export function person(a, cls) {
  if (!a) return h('span', { class: cls || '' }, '');
  return h('span', { class: cls || '', title: a.address }, a.name || a.address);
}

// A header-only record (header-first sync of a large folder): its body
// comes when the message is opened.
const HDR_ONLY = 'Only the headers are downloaded; the body is fetched when you open it';

function addRow(m, o) {
  const i = view.rows.length;
  const t = o.t;
  const isHead = t && o.head;
  const count = isHead && t.count > 1 ? t.count : 0;
  const unread = isHead && count ? t.unread > 0 : !m.seen;
  const when = isHead && t ? t.newest : m.date;
  const bad = ['tampered', 'replay'].includes((m.security || {}).badge);
  const li = h('li', {
    class: `row${unread ? ' unread' : ''}${t && !o.head ? ' reply' : ''}`, role: 'option', id: `row-${m.id}${t && !o.head ? '-r' : ''}`,
    'aria-selected': 'false', dataset: { id: m.id, i: String(i) }, draggable: canMove() ? 'true' : null,
    onclick: () => { select(i); openMessage(m.id); },
  },
  h('span', { class: 'sr-only' }, `${unread ? 'Unread. ' : ''}${m.flagged ? 'Starred. ' : ''}${count ? `Conversation of ${count}. ` : ''}${m.downloaded === false ? `${HDR_ONLY}. ` : ''}`),
  h('span', { class: 'marks' }, readMark(m), starMark(m)),
  person(m.from, 'from'),
  h('time', { class: 'date', datetime: new Date(when * 1000).toISOString(), title: fmtWhen(when) }, fmtDate(when)),
  h('span', { class: 'line2' },
    count ? h('span', { class: 'expander', 'aria-hidden': 'true', title: `${o.open ? 'Collapse' : 'Expand'} the conversation (o)`, dataset: { open: o.open ? '1' : '0' }, onclick: (e) => { e.stopPropagation(); toggleThread(t); } }, o.open ? '\u25BE' : '\u25B8') : null,
    count ? h('span', { class: 'tcount', title: `${count} messages, ${t.unread} unread` }, String(count)) : null,
    t && !o.head ? h('span', { class: 'indent', 'aria-hidden': 'true' }, `${'\u00A0'.repeat(2 * Math.min(m.depth || 0, 6))}${m.depth ? '\u2514 ' : ''}`) : null,
    m.downloaded === false ? h('span', { class: 'hdronly', title: HDR_ONLY }, 'headers') : null,
    h('span', { class: 'subject' }, subjectOf(m)),
    m.snippet && !bad ? h('span', { class: 'snippet' }, ` \u2014 ${m.snippet}`) : null),
  h('span', { class: 'meta' },
    m.has_attachments ? h('img', { class: 'clip', src: CLIP, alt: 'Has attachments.', title: 'Has attachments', width: '16', height: '16' }) : null,
    badge(m.security, true)));
  if (li.draggable) li.addEventListener('dragstart', (e) => { e.dataTransfer.setData('application/x-qmail-id', m.id); e.dataTransfer.effectAllowed = 'move'; });
  view.rows.push({ m, t, head: !!o.head });
  view.ul.appendChild(li);
}

function toggleThread(t) {
  if (view.expanded.has(t.first)) view.expanded.delete(t.first); else view.expanded.add(t.first);
  renderRows(null);
}

function select(i) {
  const ul = view.ul;
  if (!ul || !view.rows.length) return;
  i = Math.max(0, Math.min(view.rows.length - 1, i));
  ul.querySelectorAll('[aria-selected="true"]').forEach((e) => e.setAttribute('aria-selected', 'false'));
  const li = ul.querySelector(`[data-i="${i}"]`);
  if (li) { li.setAttribute('aria-selected', 'true'); ul.setAttribute('aria-activedescendant', li.id); li.scrollIntoView({ block: 'nearest' }); }
  view.selected = i;
}

// The message a key acts on: the selected row's, else the open one.
function current() {
  const r = view.rows[view.selected];
  return r ? r.m : view.open;
}

export function keyNav(e) {
  if (!location.hash.startsWith('#/mail/') || !view.rows || document.getElementById('movemenu')) return;
  const cur = view.rows[view.selected];
  const m = current();
  switch (e.key) {
    case 'j': case 'ArrowDown': e.preventDefault(); select(view.selected + 1); break;
    case 'k': case 'ArrowUp': e.preventDefault(); select(view.selected - 1); break;
    case 'Enter': case 'x': if (cur) { e.preventDefault(); openMessage(cur.m.id); } break;
    case 'o': if (cur && cur.t && cur.t.count > 1) toggleThread(cur.t); break;
    case 't': view.threads = !view.threads; relist(); break;
    case 'r': if (view.open) reply('reply'); break;
    case 'a': if (view.open) reply('all'); break;
    case 'f': if (view.open) reply('forward'); break;
    case 's': if (m) setFlags(m, { flagged: !m.flagged }); break;
    case 'u': if (m) setFlags(m, { seen: !m.seen }); break;
    case 'e': if (m && canFile('archive')) fileAs(m.id, 'archive'); break;
    case '!': if (m && canFile('junk')) fileAs(m.id, 'junk'); break;
    case '#': case 'Delete': if (m) del(m.id); break;
    case 'm': if (m && canMove()) { e.preventDefault(); moveMenu(m.id, null); } break;
    default:
  }
}

// A POP3 account's folders are kept on this computer (docs/CLIENT.md "Local folders of a POP3 account").
function canMove() { return true; }
// Archive and junk need the account's folder of that use; a POP3 account makes it on first use.
function canFile(use) { return (isPop3() || !!(use === 'archive' ? (folderOfUse('archive') || folderOfUse('all')) : folderOfUse(use))) && !inUse(use); }
function inUse(use) { const f = folderOfUse(use); return !!f && f.name === view.folder; }

async function openMessage(id) {
  const reader = document.getElementById('reader');
  if (!reader) return;
  mount(reader, h('p', { class: 'muted' }, 'Opening…'));
  let m;
  const row = view.rows.find((x) => x.m.id === id);
  const wasUnread = row ? !row.m.seen : false;
  try { m = await api.get(`/api/messages/${encodeURIComponent(id)}`); } catch (e) { mount(reader, h('p', { class: 'error', role: 'alert' }, e.message)); return; }
  if (!view.open || view.open.id !== m.id) view.plainView = false;
  view.open = m;
  if (view.el) view.el.classList.add('reading');
  view.thread = row && row.t && row.t.count > 1 ? row.t : null;
  if (row) { row.m.seen = true; if (row.t) row.t.unread = row.t.messages.filter((x) => !x.seen).length; }
  if (wasUnread) { loadList(); loadFolders(); }
  history.replaceState(null, '', `#/mail/${encodeURIComponent(view.folder)}/${encodeURIComponent(m.id)}`);
  renderMessage(reader, m, false);
  // one pane at a time (phone widths): the reader takes the focus
  if (narrow()) { reader.scrollTop = 0; const hd = document.getElementById('reader-subject'); if (hd) hd.focus(); }
  if (m.marked_read) writeSeen(m);
}

// Opening an unread message marked it read in QMail (the GET); once it
// is on screen, the read mark goes to the server at once through the
// flags route (the engine keeps it for the next sync when the server
// cannot take it now). A message already read sends nothing.
async function writeSeen(m) {
  try {
    await api.post(`/api/messages/${encodeURIComponent(m.id)}/flags`, { seen: true });
  } catch (e) { toast(`Read here; the server learns it at the next sync (${e.message})`, 'error'); }
}

// The conversation of the open message, oldest first as threaded: each
// entry opens that message here.
function threadPanel(m) {
  const t = view.thread;
  if (!t || !t.messages.some((x) => x.id === m.id)) return null;
  return h('nav', { class: 'thread', id: 'thread', 'aria-label': `Conversation of ${t.count} messages` },
    h('h3', {}, `Conversation (${t.count})`),
    h('ol', {}, t.messages.map((x) => h('li', { class: `${x.id === m.id ? 'current' : ''}${x.seen ? '' : ' unread'}` },
      h('button', { type: 'button', class: 'linkish', 'aria-current': x.id === m.id ? 'true' : null, onclick: () => openMessage(x.id) },
        h('span', { class: 'indent', 'aria-hidden': 'true' }, '\u00A0'.repeat(2 * Math.min(x.depth || 0, 6))),
        h('strong', {}, x.from ? (x.from.name || x.from.address) : ''), ' \u2014 ', subjectOf(x), ' ',
        h('span', { class: 'muted' }, fmtDate(x.date)))))));
}

function renderMessage(reader, m, remote) {
  const d = m.details || {};
  const bad = ['tampered', 'replay', 'waiting', 'unreadable', 'no_key', 'refused', 'sent_elsewhere'].includes(d.status);
  const pop3 = isPop3();
  const actions = h('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Message actions' },
    h('button', { class: 'btn', type: 'button', onclick: () => reply('reply'), disabled: bad ? true : null, title: 'Reply (r)' }, 'Reply'),
    h('button', { class: 'btn', type: 'button', onclick: () => reply('all'), disabled: bad ? true : null, title: 'Reply all (a)' }, 'Reply all'),
    h('button', { class: 'btn', type: 'button', onclick: () => reply('forward'), disabled: bad ? true : null, title: 'Forward (f)' }, 'Forward'),
    h('button', { class: 'btn', type: 'button', id: 'reader-star', 'aria-pressed': m.flagged ? 'true' : 'false', onclick: () => setFlags(m, { flagged: !m.flagged }), title: 'Star (s)' }, m.flagged ? '\u2605 Starred' : '\u2606 Star'),
    h('button', { class: 'btn', type: 'button', id: 'reader-read', onclick: () => setFlags(m, { seen: !m.seen }), title: 'Mark read or unread (u)' }, m.seen ? 'Mark unread' : 'Mark read'),
    d.retryable ? h('button', { class: 'btn', type: 'button', id: 'retry', onclick: () => retry(m), title: 'Try once more to open it from the copy kept' }, 'Try again') : null,
    canMove() ? h('button', { class: 'btn', type: 'button', id: 'move-btn', 'aria-haspopup': 'menu', onclick: (e) => moveMenu(m.id, e.currentTarget), title: 'Move to a folder (m)' }, 'Move to\u2026') : null,
    canFile('archive') ? h('button', { class: 'btn', type: 'button', id: 'archive-btn', onclick: () => fileAs(m.id, 'archive'), title: 'Archive (e)' }, 'Archive') : null,
    canFile('junk') ? h('button', { class: 'btn', type: 'button', id: 'junk-btn', onclick: () => fileAs(m.id, 'junk'), title: 'Junk (!)' }, 'Junk') : null,
    h('button', { class: 'btn danger', type: 'button', id: 'delete-btn', onclick: () => del(m.id), title: pop3 ? 'Delete: move to Trash on this computer (#)' : 'Delete: move to Trash (#)' }, 'Delete'));
  const headers = h('dl', { class: 'headers' },
    h('dt', {}, 'From'), h('dd', {}, fullPerson(m.from)),
    h('dt', {}, 'To'), h('dd', {}, people(m.to)),
    (m.cc && m.cc.length) ? [h('dt', {}, 'Cc'), h('dd', {}, people(m.cc))] : null,
    h('dt', {}, 'Date'), h('dd', {}, m.date ? fmtWhen(m.date) : ''),
    d.signer ? signerLine(d.signer) : null);
  let body;
  if (bad) {
    const b = BADGES[(m.security || {}).badge] || BADGES[d.status] || BADGES.tampered;
    body = h('div', { class: 'card error', role: 'alert' }, b[1], h('p', { class: 'small' }, d.explanation || ''));
  } else if (m.has_html && !view.plainView) {
    body = htmlBody(reader, m, remote);
  } else {
    body = h('div', { class: 'textbody' }, m.has_html ? viewSwitch(reader, m, remote) : null, h('pre', { class: 'text', id: 'text-body' }, linkify(m.text || '')),
      m.has_html && !(m.text || '').trim() ? h('p', { class: 'muted' }, 'This message has no text QMail could take from its HTML.') : null);
  }
  const atts = (m.attachments || []).length ? h('ul', { class: 'attachments', 'aria-label': 'Attachments' },
    m.attachments.map(attItem.bind(null, m))) : null;
  const details = h('details', { class: 'secdetails' }, h('summary', {}, 'Security details'),
    h('dl', {},
      h('dt', {}, 'Level'), h('dd', {}, d.level ? (BADGES[`l${d.level}`] || BADGES.plain)[1] : 'none: not encrypted'),
      h('dt', {}, 'Result'), h('dd', {}, d.explanation || d.status || ''),
      d.key_ids && d.key_ids.length ? [h('dt', {}, `Key IDs (${d.key_count || d.key_ids.length})`), h('dd', { class: 'mono' }, d.key_ids.join(' '))] : null,
      d.sender_sae ? [h('dt', {}, 'Sender SAE'), h('dd', { class: 'mono' }, d.sender_owner ? `${d.sender_sae} (confirmed for ${d.sender_owner})` : d.sender_sae)] : null,
      d.relay ? [h('dt', {}, 'Key path'), h('dd', { id: 'key-path' }, `relayed over ${d.relay.hops} QKD links${d.relay.source_kme ? ` from ${d.relay.source_kme}` : ''} through ${d.relay.trusted_nodes} trusted node${d.relay.trusted_nodes === 1 ? '' : 's'} (each could read the keys)`)] : null,
      d.signer ? [h('dt', {}, 'Signer'), h('dd', { class: 'mono' }, `${d.signer.fingerprint} (${d.signer.trust})`)] : null,
      d.error ? [h('dt', {}, 'Error'), h('dd', {}, d.error)] : null));
  const keyBadge = (m.security || {}).signer === 'unverified' ? badge({ badge: 'keyunverified' })
    : (m.security || {}).signer === 'changed' ? badge({ badge: 'keychanged' }) : null;
  const warn = d.status === 'unverified_sender'
    ? h('div', { class: 'card error', role: 'alert', id: 'unverified-sender' }, BADGES.unverified[1], h('p', { class: 'small' }, d.explanation || ''))
    : d.status === 'sent' ? h('div', { class: 'card', role: 'note', id: 'sent-by-you' }, BADGES.sent[1], d.explanation ? h('p', { class: 'small' }, d.explanation) : null) : null;
  const back = h('button', { class: 'btn ghost back', type: 'button', id: 'back-btn', onclick: closeReader }, '\u2039 Back to the list');
  mount(reader, back, actions, threadPanel(m), h('h2', { class: 'subject', id: 'reader-subject', tabindex: '-1' }, subjectOf(m), ' ', badge(m.security), keyBadge ? ' ' : null, keyBadge), headers, warn, details, atts, body);
}

// The addresses of a header: names, each with its address on hover.
function people(list) {
  const out = [];
  (list || []).forEach((a, i) => { if (i) out.push(', '); out.push(person(a)); });
  return out;
}

// The sender in full: the name, then the address.
function fullPerson(a) {
  if (!a) return '';
  return a.name ? [h('strong', {}, a.name), ' ', h('span', { class: 'muted' }, `<${a.address}>`)] : a.address;
}

// The switch between the formatted (sanitised HTML) view and the text.
function viewSwitch(reader, m, remote) {
  return h('div', { class: 'viewswitch' },
    h('button', { type: 'button', class: 'btn small', id: 'view-switch', onclick: () => { view.plainView = !view.plainView; renderMessage(reader, m, remote); } },
      view.plainView ? 'Show formatted' : 'Show as plain text'));
}

// Sanitised HTML in a sandboxed frame. Above it, when the sanitiser held
// remote images back: how many, and one button to load the https ones
// (http ones never load: they would travel unencrypted).
function htmlBody(reader, m, remote) {
  const src = `/api/messages/${encodeURIComponent(m.id)}/html${remote ? '?remote=1' : ''}`;
  const n = m.remote_images || 0, http = m.remote_http || 0;
  let banner = null;
  if (n && !remote) {
    const https = n - http;
    banner = h('div', { class: 'imgbanner', role: 'note', id: 'remote-banner' },
      h('span', {}, `${n} remote image${n === 1 ? ' was' : 's were'} blocked. Loading them tells the sender when and where you read this message.`,
        http ? ` ${http} ${http === 1 ? 'uses' : 'use'} unencrypted http and never load${http === 1 ? 's' : ''}.` : ''),
      https && state.remoteImages ? h('button', { class: 'btn small', type: 'button', id: 'load-remote', onclick: () => renderMessage(reader, m, true) }, `Load ${https} image${https === 1 ? '' : 's'}`) : null,
      https && !state.remoteImages ? h('span', { class: 'muted small' }, ' Remote images are turned off for this QMail.') : null);
  } else if (n && remote) {
    banner = h('div', { class: 'imgbanner', role: 'note', id: 'remote-banner' }, `Remote images loaded over https${http ? `; ${http} http one${http === 1 ? '' : 's'} stayed blocked` : ''}.`);
  }
  return h('div', { class: 'htmlbody' }, h('div', { class: 'bodytools' }, banner, viewSwitch(reader, m, remote)),
    h('iframe', { class: 'htmlmail', sandbox: 'allow-popups allow-popups-to-escape-sandbox', src, title: 'Message content (sanitised HTML)', referrerpolicy: 'no-referrer' }));
}

// Plain text with its web and mail addresses as links (text nodes and
// anchors only: nothing from the message becomes markup).
const URL_RE = /\b(?:https?:\/\/|mailto:)[^\s<>"'\u0000-\u001f]+/gi;
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const mt of text.matchAll(URL_RE)) {
    let u = mt[0];
    // sentence punctuation after a link is not part of it
    const trail = u.match(/[.,;:!?)\]]+$/);
    if (trail && !(trail[0].startsWith(')') && u.includes('('))) u = u.slice(0, u.length - trail[0].length);
    if (mt.index > last) out.push(text.slice(last, mt.index));
    out.push(h('a', { href: u, target: '_blank', rel: 'noopener noreferrer' }, u));
    last = mt.index + u.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// Back from the reader to the list (phone widths show one at a time).
function closeReader() {
  const id = view.open ? view.open.id : '';
  view.open = null;
  if (view.el) view.el.classList.remove('reading');
  const reader = document.getElementById('reader');
  if (reader) mount(reader, h('p', { class: 'empty' }, 'Select a message to read it.'));
  history.replaceState(null, '', `#/mail/${encodeURIComponent(view.folder)}`);
  const li = id ? document.getElementById(`row-${id}`) : null;
  const ul = document.getElementById('rows');
  if (li) li.scrollIntoView({ block: 'nearest' });
  if (ul) ul.focus();
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

// One attachment. The engine sends its name display-safe (a direction
// control such as U+202E, which makes "invoice<U+202E>fdp.exe" look like
// "invoiceexe.pdf", arrives as a visible "[U+202E]"), its real extension
// and the type the sender declared; a disguised name gets a warning that
// names the real extension.
function attItem(m, a) {
  const ext = a.extension ? `.${a.extension}` : 'none';
  return h('li', {},
    h('a', { href: `/api/messages/${encodeURIComponent(m.id)}/attachments/${a.index}`, download: a.name, class: 'att' }, h('img', { src: CLIP, alt: '', width: '14', height: '14' }), ` ${a.name}`),
    h('span', { class: 'muted' }, ` ${fmtBytes(a.size)} · extension ${ext} · declared ${a.type || 'no type'}`),
    a.disguised ? h('p', { class: 'attwarn', role: 'note' }, `Careful: this name holds invisible control or direction characters (shown as [U+…]). Its real extension is ${ext}.`) : null);
}

// The move menu: the account's folders that can hold mail, but the one
// listed; arrows move, Enter moves the message, Escape closes.
function moveMenu(id, anchor) {
  closeMenu();
  const targets = state.folders.filter((f) => f.selectable && f.name !== view.folder);
  const prev = document.activeElement;
  const items = targets.map((f) => h('button', { type: 'button', role: 'menuitem', class: 'menuitem', dataset: { folder: f.name }, onclick: () => { closeMenu(); moveTo(id, f.name); } }, folderLabel(f.name)));
  const menu = h('div', { class: 'menu', id: 'movemenu', role: 'menu', 'aria-label': 'Move to folder',
    onkeydown: (e) => {
      const i = items.indexOf(document.activeElement);
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); closeMenu(); if (prev) prev.focus(); } else if (e.key === 'ArrowDown' || e.key === 'j') { e.preventDefault(); e.stopPropagation(); items[(i + 1) % items.length].focus(); } else if (e.key === 'ArrowUp' || e.key === 'k') { e.preventDefault(); e.stopPropagation(); items[(i - 1 + items.length) % items.length].focus(); } else e.stopPropagation();
    } },
  items.length ? items : h('p', { class: 'muted' }, 'This account has no other folder.'));
  document.body.appendChild(menu);
  const r = (anchor || document.getElementById('move-btn') || document.getElementById('rows') || document.body).getBoundingClientRect();
  menu.style.left = `${Math.max(8, Math.min(r.left, window.innerWidth - 260))}px`;
  menu.style.top = `${Math.min(r.bottom + 4, window.innerHeight - 40)}px`;
  if (items.length) items[0].focus();
  setTimeout(() => document.addEventListener('click', outside, true), 0);
}

function outside(e) { const m = document.getElementById('movemenu'); if (m && !m.contains(e.target)) closeMenu(); }

function closeMenu() {
  const m = document.getElementById('movemenu');
  if (m) m.remove();
  document.removeEventListener('click', outside, true);
}

// After a message left the list: the next row is selected, the reader
// empties if it showed it, and the counts are read again.
function afterRemove(id) {
  if (view.open && view.open.id === id) {
    view.open = null;
    if (view.el) view.el.classList.remove('reading');
    const reader = document.getElementById('reader');
    if (reader) clear(reader).appendChild(h('p', { class: 'empty' }, 'Select a message to read it.'));
    history.replaceState(null, '', `#/mail/${encodeURIComponent(view.folder)}`);
  }
  loadList();
  loadFolders();
}

async function moveTo(id, folder) {
  if (!canMove()) return;
  try {
    await api.post(`/api/messages/${encodeURIComponent(id)}/move`, { folder });
    toast(`Moved to ${folderLabel(folder)}`);
    afterRemove(id);
  } catch (e) { toast(e.message, 'error'); }
}

async function fileAs(id, use) {
  try {
    await api.post(`/api/messages/${encodeURIComponent(id)}/file`, { use });
    toast(use === 'archive' ? 'Archived' : 'Moved to Junk');
    afterRemove(id);
  } catch (e) { toast(e.message, 'error'); }
}

async function del(id) {
  try {
    if (isPop3()) { await api.del(`/api/messages/${encodeURIComponent(id)}`); toast('Deleted from this computer'); } else { await api.post(`/api/messages/${encodeURIComponent(id)}/trash`, {}); toast(inUse('trash') ? 'Deleted' : 'Moved to Trash'); }
    afterRemove(id);
  } catch (e) { toast(e.message, 'error'); }
}

// Star and read: the engine keeps the change and writes it to the server
// at once (at the next sync when the server cannot take it now); the row,
// the reader and the counts follow its answer.
async function setFlags(m, flags) {
  try {
    const s = await api.post(`/api/messages/${encodeURIComponent(m.id)}/flags`, flags);
    for (const r of view.rows) if (r.m.id === m.id) { r.m.seen = s.seen; r.m.flagged = s.flagged; if (r.t) r.t.unread = r.t.messages.filter((x) => !x.seen).length; }
    if (view.threadList) for (const t of view.threadList) for (const x of t.messages) if (x.id === m.id) { x.seen = s.seen; x.flagged = s.flagged; t.unread = t.messages.filter((y) => !y.seen).length; }
    m.seen = s.seen; m.flagged = s.flagged;
    if (flags.seen !== undefined) { loadList(); loadFolders(); } else renderRows(null);
    if (view.open && view.open.id === m.id) { view.open.seen = s.seen; view.open.flagged = s.flagged; renderMessage(document.getElementById('reader'), view.open, false); }
  } catch (e) { toast(e.message, 'error'); }
}

// The message being answered, handed to compose in memory (never stored).
export let replyTo = null;

function reply(kind) {
  replyTo = { kind, m: view.open };
  location.hash = `#/compose/${kind}/${encodeURIComponent(view.open.id)}`;
}
