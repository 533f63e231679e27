// SPDX-License-Identifier: MIT
// The Chats view (docs/WEB.md "Chats", docs/CHAT.md): the conversation
// list with unread counts, one conversation as message bubbles (mine on
// the right, theirs on the left) with time, level badge and delivery
// ticks, the compose box (Enter sends, Shift+Enter a new line), the
// new-conversation form, and the level rule's refusal with the explicit
// change of the conversation's level, and a group's members panel (add,
// remove: each change a chat message of the group, shown as a line). New
// messages come through the events feed (app.js calls chatNews): the open
// conversation and the counts are read again, never the whole page.
import { api, qs } from './api.js';
import { h, mount, fmtDate, fmtWhen, badge } from './ui.js';

const LEVELS = [1, 2, 3, 4];
// the badges' words (ui.js BADGES), so the choice reads as the bubbles do
const LEVEL_NAMES = { 1: 'Level 1 (OTP)', 2: 'Level 2 (QKD-AES)', 3: 'Level 3 (PQC)', 4: 'Level 4 (classical)' };

// What a sent message's outbox state shows: ticks and their words.
function ticks(state) {
  if (state === 'sent') return h('span', { class: 'ticks sent', role: 'img', 'aria-label': 'Sent', title: 'Sent: the mail server took it' }, '\u2713\u2713');
  if (state === 'failed') return h('span', { class: 'ticks failed', role: 'img', 'aria-label': 'Not sent', title: 'Not sent: see the Outbox' }, '!');
  if (state === 'retrying') return h('span', { class: 'ticks', role: 'img', 'aria-label': 'Waiting to be sent again', title: 'In the outbox: it is tried again' }, '\u2713');
  return h('span', { class: 'ticks', role: 'img', 'aria-label': 'Queued', title: 'In the outbox: it goes as soon as the mail server answers' }, '\u2713');
}

const levelBadge = (n) => badge({ badge: `l${n}` }, true);
const who = (c) => (c.members || []).join(', ') || '(nobody)';

let current = null; // the view on screen: { wrap, listPane, pane, account, id, chat, messages }

// The account's unread chat messages (the sidebar's count); 0 on error.
export async function loadChatCount(account) {
  if (!account) return 0;
  try {
    const r = await api.poll(`/api/chats${qs({ account, previews: 0 })}`);
    return r.unread || 0;
  } catch (e) { return 0; }
}

// The view: #/chats, #/chats/new, #/chats/ID.
export async function showChats(box, account, which) {
  const wrap = h('div', { class: 'chats' });
  const listPane = h('section', { class: 'chatlist', 'aria-labelledby': 'chats-title' });
  const pane = h('section', { class: 'chatpane', 'aria-label': 'Conversation' });
  if (which) wrap.classList.add('reading');
  mount(box, wrap);
  wrap.append(listPane, pane);
  current = { wrap, listPane, pane, account, id: which && which !== 'new' ? which : '', chat: null, messages: [] };
  const me = current;
  await renderList(me);
  if (which === 'new') newForm(me);
  else if (which) await openChat(me, which, true);
  else mount(pane, h('p', { class: 'muted chatempty' }, 'Choose a conversation, or start a new one.'));
}

// A row's preview: the newest text, or the newest membership change.
function preview(p) {
  if (!p) return '';
  if (p.kind && p.kind !== 'text') return `${p.mine ? 'You' : p.sender} ${p.kind} ${p.text}`;
  return `${p.mine ? 'You: ' : ''}${p.text}`;
}

async function renderList(me) {
  const r = await api.get(`/api/chats${qs({ account: me.account })}`);
  if (current !== me) return;
  const rows = (r.chats || []).map((c) => {
    const p = c.preview;
    return h('li', {},
      h('a', { href: `#/chats/${c.id}`, class: `chatrow${c.unread ? ' unread' : ''}`, 'aria-current': c.id === me.id ? 'page' : null },
        h('span', { class: 'chatwho' }, who(c)),
        h('span', { class: 'chatmeta' }, levelBadge(c.level), ' ', h('time', { datetime: new Date(c.last_at * 1000).toISOString(), title: c.last_at ? fmtWhen(c.last_at) : '' }, fmtDate(c.last_at)),
          c.unread ? h('span', { class: 'count' }, String(c.unread), h('span', { class: 'sr-only' }, ' unread')) : null),
        h('span', { class: 'chatpreview' }, preview(p))));
  });
  mount(me.listPane,
    h('div', { class: 'listhead' }, h('h1', { id: 'chats-title' }, 'Chats'),
      h('a', { class: 'btn primary small', href: '#/chats/new' }, 'New chat')),
    rows.length ? h('ul', { class: 'chatrows', id: 'chatrows' }, rows)
      : h('p', { class: 'muted chatempty' }, 'No conversations yet. A chat is a short QMail message, sealed at its level like any other.'));
}

// One conversation: its bubbles and the compose box.
async function openChat(me, id, markRead) {
  const r = await api.get(`/api/chats/${encodeURIComponent(id)}`);
  if (current !== me) return;
  me.chat = r.chat;
  me.messages = r.messages || [];
  drawChat(me);
  if (markRead && r.chat.unread) {
    await api.post(`/api/chats/${encodeURIComponent(id)}/read`, {});
    window.dispatchEvent(new CustomEvent('qm-chat-read'));
    if (current === me) await renderList(me);
  }
}

// A membership change: a line of its own, not a bubble.
function sysline(m) {
  const who = m.mine ? 'You' : m.sender;
  const what = m.kind === 'added' ? 'added' : 'removed';
  const line = m.kind === 'removed' && m.text === m.sender ? `${who} left the group` : `${who} ${what} ${m.text}`;
  return h('li', { class: 'sysline', dataset: { id: m.id, kind: m.kind } },
    h('span', {}, line), ' ',
    h('time', { datetime: new Date(m.at * 1000).toISOString(), title: fmtWhen(m.at) }, fmtDate(m.at)), ' ',
    levelBadge(m.level), m.mine ? ' ' : null, m.mine ? ticks(m.state) : null);
}

// A group's members: each with a Remove button, and an address to add.
// A change is itself a chat message of the group (docs/CHAT.md "Groups").
function membersPanel(me) {
  const c = me.chat;
  const err = h('div', { class: 'chaterr', id: 'chat-members-error', role: 'alert' });
  const addr = h('input', { id: 'chat-member-add', type: 'text', inputmode: 'email', autocomplete: 'off', maxlength: '320', placeholder: 'carol@example.org', 'aria-label': 'Address to add to the group' });
  const change = async (body, btn) => {
    mount(err);
    btn.disabled = true;
    try {
      const r = await api.post(`/api/chats/${encodeURIComponent(c.id)}/members`, body);
      me.membersOpen = true;
      if (current === me) await refreshChat(me);
      if (r.error) mount(document.getElementById('chat-members-error') || err, `In the outbox: ${r.error}`);
    } catch (x) {
      mount(err, `Not changed: ${x.message}`);
      btn.disabled = false;
    }
  };
  const rows = (c.members || []).map((a) => {
    const b = h('button', { type: 'button', class: 'btn small', 'aria-label': `Remove ${a} from the group` }, 'Remove');
    b.addEventListener('click', () => change({ remove: a }, b));
    return h('li', {}, h('span', { class: 'memaddr' }, a), c.removed ? null : b);
  });
  const add = h('button', { type: 'submit', class: 'btn small primary' }, 'Add');
  const form = h('form', { class: 'memadd', 'aria-label': 'Add a member' }, addr, add);
  form.addEventListener('submit', (e) => { e.preventDefault(); if (addr.value.trim()) change({ add: addr.value.trim() }, add); });
  const box = h('details', { class: 'chatmembers', id: 'chat-members' },
    h('summary', {}, `Members (${(c.members || []).length + (c.removed ? 0 : 1)})`),
    h('ul', { class: 'memlist' }, c.removed ? null : h('li', {}, h('span', { class: 'memaddr' }, 'You')), rows),
    c.removed ? h('p', { class: 'muted small' }, 'You are no longer a member of this group.') : form,
    h('p', { class: 'hint muted small' }, 'A change is a message to the group at its level: the members after it get it (and the one removed, who then gets nothing more).'),
    err);
  if (me.membersOpen) box.open = true;
  box.addEventListener('toggle', () => { me.membersOpen = box.open; });
  return box;
}

function bubble(m, group) {
  if (m.kind && m.kind !== 'text') return sysline(m);
  return h('li', { class: `bubble ${m.mine ? 'mine' : 'theirs'}`, dataset: { id: m.id } },
    !m.mine && group ? h('span', { class: 'bsender' }, m.sender) : null,
    h('span', { class: 'btext' }, m.text || '(this message cannot be opened here)'),
    h('span', { class: 'bmeta' },
      m.mine ? h('span', { class: 'sr-only' }, 'You, ') : h('span', { class: 'sr-only' }, `${m.sender}, `),
      h('time', { datetime: new Date(m.at * 1000).toISOString(), title: fmtWhen(m.at) }, fmtDate(m.at)), ' ',
      levelBadge(m.level), m.mine ? ' ' : null, m.mine ? ticks(m.state) : null));
}

function drawChat(me, focus = true) {
  const c = me.chat;
  // the scrolling box is the log (announced as messages come); the
  // bubbles are a list inside it
  const log = h('div', { class: 'bubbles', id: 'bubbles', role: 'log', 'aria-live': 'polite', 'aria-label': `Messages with ${who(c)}`, tabindex: '0' },
    h('ol', { class: 'bubblelist' }, me.messages.map((m) => bubble(m, c.group))));
  const text = h('textarea', { id: 'chat-text', rows: '2', maxlength: '65536', placeholder: 'Message', 'aria-describedby': 'chat-help' });
  const level = h('select', { id: 'chat-level', 'aria-label': 'Send at level' },
    h('option', { value: '0' }, `Level ${c.level} (this chat's)`),
    LEVELS.map((n) => h('option', { value: String(n) }, LEVEL_NAMES[n])));
  const err = h('div', { class: 'chaterr', id: 'chat-error', role: 'alert' });
  const send = h('button', { type: 'submit', class: 'btn primary' }, 'Send');
  const form = h('form', { class: 'chatcompose', 'aria-label': 'Write a message' },
    h('label', { for: 'chat-text', class: 'sr-only' }, `Message to ${who(c)}`), text,
    h('div', { class: 'chatctl' }, level, send),
    h('small', { id: 'chat-help', class: 'hint muted' }, 'Enter sends, Shift+Enter starts a new line.'), err);
  const doSend = async () => {
    if (!text.value.trim()) return;
    send.disabled = true;
    mount(err);
    try {
      const r = await api.post(`/api/chats/${encodeURIComponent(c.id)}/messages`, { text: text.value, level: Number(level.value) });
      text.value = '';
      level.value = '0';
      if (current === me) await refreshChat(me);
      // kept in the conversation, waiting in the outbox: say why
      if (r.error) mount(document.getElementById('chat-error') || err, `In the outbox: ${r.error}`);
    } catch (e) {
      mount(err, `Not sent: ${e.message}`);
      // the level rule: the conversation is held to a stronger level;
      // changing it is the person's own, explicit step
      if (e.code === 'conflict' && e.asked) {
        const to = e.asked;
        err.append(' ', h('button', { type: 'button', class: 'btn small', id: 'chat-level-change', onclick: async () => {
          try {
            await api.post(`/api/chats/${encodeURIComponent(c.id)}/level`, { level: to });
            const keep = text.value;
            await refreshChat(me);
            const t = document.getElementById('chat-text');
            if (t) {
              t.value = keep;
              document.getElementById('chat-level').value = String(to);
              mount(document.getElementById('chat-error'), `This conversation is now held to level ${to}. Press Send to send at it.`);
              t.focus();
            }
          } catch (x) { mount(err, x.message); }
        } }, `Change this conversation to level ${to}`));
      }
    }
    send.disabled = false;
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); doSend(); });
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); doSend(); }
  });
  mount(me.pane,
    h('div', { class: 'chathead' },
      h('a', { class: 'btn ghost small back', href: '#/chats' }, '\u2039 Chats'),
      h('h2', { id: 'chat-title' }, who(c)), ' ', levelBadge(c.level),
      c.altered ? h('p', { class: 'error small' }, 'This conversation was changed on disk outside QMail: set its level again before sending.') : null,
      c.group ? membersPanel(me) : null),
    log, c.removed ? h('p', { class: 'muted chatgone', id: 'chat-removed' }, 'You are no longer a member of this group: a member has to add you again before you can write in it.') : form);
  log.scrollTop = log.scrollHeight;
  if (focus) text.focus();
}

// The open conversation again (a send, or the events feed): what was
// typed and chosen in the compose box stays.
async function refreshChat(me) {
  if (!me.id) { await renderList(me); return; }
  const r = await api.get(`/api/chats/${encodeURIComponent(me.id)}`);
  if (current !== me) return;
  const text = document.getElementById('chat-text'), level = document.getElementById('chat-level');
  const keep = text ? text.value : '', lv = level ? level.value : '0', focused = document.activeElement === text;
  me.chat = r.chat;
  me.messages = r.messages || [];
  drawChat(me, focused);
  // (a group the account was removed from has no compose box)
  const t2 = document.getElementById('chat-text'), l2 = document.getElementById('chat-level');
  if (t2) t2.value = keep;
  if (l2 && [...l2.options].some((o) => o.value === lv)) l2.value = lv;
  if (r.chat.unread && document.visibilityState === 'visible') {
    await api.post(`/api/chats/${encodeURIComponent(me.id)}/read`, {});
    window.dispatchEvent(new CustomEvent('qm-chat-read'));
  }
  await renderList(me);
}

// Called by app.js when a sync filed chat or the outbox sent something.
export async function chatNews() {
  const me = current;
  if (!me || !document.body.contains(me.wrap)) return;
  try { await refreshChat(me); } catch (e) { /* the next event tries again */ }
}

function newForm(me) {
  const to = h('input', { id: 'chat-to', type: 'text', autocomplete: 'off', required: true, maxlength: '4096', placeholder: 'bob@example.org', 'aria-describedby': 'chat-to-hint' });
  const level = h('select', { id: 'chat-new-level' },
    h('option', { value: '0' }, 'Your default level'),
    LEVELS.map((n) => h('option', { value: String(n) }, LEVEL_NAMES[n])));
  const text = h('textarea', { id: 'chat-new-text', rows: '3', required: true, maxlength: '65536' });
  const err = h('div', { class: 'chaterr', id: 'chat-new-error', role: 'alert' });
  const send = h('button', { type: 'submit', class: 'btn primary' }, 'Start chat');
  const lab = (id, t, hint) => [h('label', { for: id }, t), hint ? h('small', { class: 'hint', id: `${id}-hint` }, hint) : null];
  const form = h('form', { class: 'card chatnew', 'aria-labelledby': 'chat-new-title' },
    h('a', { class: 'btn ghost small back', href: '#/chats' }, '\u2039 Chats'),
    h('h2', { id: 'chat-new-title' }, 'New chat'),
    h('div', { class: 'field' }, lab('chat-to', 'With', 'One address, or several separated by commas for a group.'), to),
    h('div', { class: 'field' }, lab('chat-new-level', 'Level'), level),
    h('div', { class: 'field' }, lab('chat-new-text', 'First message'), text),
    err, h('div', { class: 'actions' }, send));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    mount(err);
    send.disabled = true;
    try {
      const r = await api.post(`/api/chats${qs({ account: me.account })}`, { to: to.value, text: text.value, level: Number(level.value) });
      location.hash = `#/chats/${r.chat}`;
    } catch (x) {
      mount(err, `Not sent: ${x.message}`);
      send.disabled = false;
    }
  });
  mount(me.pane, form);
  to.focus();
}
