// SPDX-License-Identifier: MIT
// The Chats view (docs/WEB.md "Chats", docs/CHAT.md): the conversation
// list with unread counts, one conversation as message bubbles (mine on
// the right, theirs on the left) with time, level badge and delivery
// ticks, the compose box (Enter sends, Shift+Enter a new line), the
// new-conversation form, and the level rule's refusal with the explicit
// change of the conversation's level, and a group's members panel (add,
// remove: each change a chat message of the group, shown as a line). New
// messages come through the events feed (app.js calls chatNews): the open
// conversation and the counts are read again, never the whole page. Files
// go with a message (the attach button; images shown in the bubble, from
// the API, same origin; other files as a link to save); ticks say sent
// (one) and read (two, when the other side sends read receipts); a
// conversation's own "Send read receipts" is the person's opt-in; "Notify
// me" shows a desktop notification for chat that comes while the page is
// hidden.
import { api, qs, upload } from './api.js';
import { h, mount, fmtDate, fmtWhen, badge } from './ui.js';

const LEVELS = [1, 2, 3, 4];
const CLIP = new URL('clip.svg', import.meta.url).pathname;
const clip = () => h('img', { class: 'clip', src: CLIP, alt: '', width: '16', height: '16' });
// the badges' words (ui.js BADGES), so the choice reads as the bubbles do
const LEVEL_NAMES = { 1: 'Level 1 (OTP)', 2: 'Level 2 (QKD-AES)', 3: 'Level 3 (PQC)', 4: 'Level 4 (classical)' };

// What a sent message's state shows: one tick sent (the outbox
// delivered it), two read (a member's read receipt named it).
function ticks(m) {
  const state = m.state;
  if (state === 'sent' && m.read_at)
    return h(
      'span',
      {
        class: 'ticks read',
        role: 'img',
        'aria-label': 'Read',
        title: `Read: ${fmtWhen(m.read_at)}`,
      },
      '\u2713\u2713',
    );
  if (state === 'sent')
    return h(
      'span',
      {
        class: 'ticks sent',
        role: 'img',
        'aria-label': 'Sent',
        title: 'Sent: the mail server took it',
      },
      '\u2713',
    );
  if (state === 'failed')
    return h(
      'span',
      {
        class: 'ticks failed',
        role: 'img',
        'aria-label': 'Not sent',
        title: 'Not sent: see the Outbox',
      },
      '!',
    );
  if (state === 'retrying')
    return h(
      'span',
      {
        class: 'ticks wait',
        role: 'img',
        'aria-label': 'Waiting to be sent again',
        title: 'In the outbox: it is tried again',
      },
      '\u25F7',
    );
  return h(
    'span',
    {
      class: 'ticks wait',
      role: 'img',
      'aria-label': 'Queued',
      title: 'In the outbox: it goes as soon as the mail server answers',
    },
    '\u25F7',
  );
}

const fmtSize = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${Math.round(n / 1024)} KB` : `${(n / 1048576).toFixed(1)} MB`);
// the images already shown, by URL: a conversation drawn again keeps
// them (nothing is cached by the browser: the API answers no-store)
const shownImages = new Map();

// The files of a message: images inline (the API serves one as an image
// only when its bytes are PNG, JPEG, GIF or WebP), others as links.
function files(m) {
  if (!m.files || !m.files.length) return null;
  return h(
    'span',
    { class: 'bfiles' },
    m.files.map((f) => {
      if (f.image) {
        let img = shownImages.get(f.url);
        if (!img) {
          img = h('img', {
            class: 'bimage',
            src: f.url,
            alt: f.name,
            loading: 'lazy',
            decoding: 'async',
          });
          shownImages.set(f.url, img);
        }
        return h(
          'a',
          {
            class: 'bimagelink',
            href: `${f.url}?download=1`,
            download: f.name,
            title: `Save ${f.name} (${fmtSize(f.size)})`,
          },
          img,
        );
      }
      return h(
        'a',
        {
          class: 'bfile',
          href: `${f.url}?download=1`,
          download: f.name,
          title: `Save ${f.name}`,
        },
        clip(),
        ' ',
        f.name,
        h('span', { class: 'muted' }, ` (${fmtSize(f.size)})`),
      );
    }),
  );
}

// ------------------------------------------------ desktop notifications
const NOTIFY_KEY = 'qmail.chat.notify',
  HIDE_KEY = 'qmail.chat.notify.hide';
const notifyOn = () => localStorage.getItem(NOTIFY_KEY) === '1' && 'Notification' in window && Notification.permission === 'granted';

// The "Notify me" and "Hide content" toggles of the list's head: the
// permission is asked from the click (a user gesture), never on its own.
function notifyControls() {
  const can = 'Notification' in window;
  const box = h('input', {
    type: 'checkbox',
    id: 'chat-notify',
    checked: notifyOn(),
    disabled: !can,
  });
  const hide = h('input', {
    type: 'checkbox',
    id: 'chat-notify-hide',
    checked: localStorage.getItem(HIDE_KEY) !== '0',
  });
  const note = h('small', { class: 'muted', id: 'chat-notify-note', role: 'status' }, can ? '' : 'This browser shows no notifications.');
  box.addEventListener('change', async () => {
    if (box.checked && Notification.permission !== 'granted') {
      let p = Notification.permission;
      try {
        p = await Notification.requestPermission();
      } catch (e) {
        /* old API */
      }
      if (p !== 'granted') {
        box.checked = false;
        note.textContent = 'Notifications are blocked for this page in the browser.';
        return;
      }
    }
    localStorage.setItem(NOTIFY_KEY, box.checked ? '1' : '0');
    note.textContent = box.checked ? 'You are told of new chat messages while this page is hidden.' : '';
  });
  hide.addEventListener('change', () => localStorage.setItem(HIDE_KEY, hide.checked ? '1' : '0'));
  return h(
    'div',
    { class: 'chatnotify' },
    h('label', { for: 'chat-notify' }, box, ' Notify me'),
    h('label', { for: 'chat-notify-hide', title: 'The notification says only that a message came' }, hide, ' Hide content'),
    note,
  );
}

// Called by app.js when a sync filed chat: a desktop notification when
// the page is hidden and the person asked for them; with "Hide content"
// (the default) it names neither the sender nor the text.
export async function chatNotify(account, text) {
  if (!notifyOn() || document.visibilityState === 'visible') return;
  let body = text || 'New chat message';
  if (localStorage.getItem(HIDE_KEY) === '0' && account) {
    try {
      const r = await api.poll(`/api/chats${qs({ account })}`);
      const c = (r.chats || []).find((x) => x.unread && x.preview && !x.preview.mine);
      if (c) body = `${c.preview.sender}: ${c.preview.text}`;
    } catch (e) {
      /* the count alone */
    }
  }
  try {
    const n = new Notification('QMail chat', {
      body,
      tag: 'qmail-chat',
      icon: (document.querySelector('link[rel=icon]') || {}).href,
    });
    n.onclick = () => {
      window.focus();
      location.hash = '#/chats';
      n.close();
    };
  } catch (e) {
    /* not shown: the page's own notice stays */
  }
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
  } catch (e) {
    return 0;
  }
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
    return h(
      'li',
      {},
      h(
        'a',
        { href: `#/chats/${c.id}`, class: `chatrow${c.unread ? ' unread' : ''}`, 'aria-current': c.id === me.id ? 'page' : null },
        h('span', { class: 'chatwho' }, who(c)),
        h(
          'span',
          { class: 'chatmeta' },
          levelBadge(c.level),
          ' ',
          h('time', { datetime: new Date(c.last_at * 1000).toISOString(), title: c.last_at ? fmtWhen(c.last_at) : '' }, fmtDate(c.last_at)),
          c.unread ? h('span', { class: 'count' }, String(c.unread), h('span', { class: 'sr-only' }, ' unread')) : null,
        ),
        h('span', { class: 'chatpreview' }, preview(p)),
      ),
    );
  });
  mount(
    me.listPane,
    h('div', { class: 'listhead' }, h('h1', { id: 'chats-title' }, 'Chats'), h('a', { class: 'btn primary small', href: '#/chats/new' }, 'New chat')),
    notifyControls(),
    rows.length
      ? h('ul', { class: 'chatrows', id: 'chatrows' }, rows)
      : h('p', { class: 'muted chatempty' }, 'No conversations yet. A chat is a short QMail message, sealed at its level like any other.'),
  );
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
  return h(
    'li',
    { class: 'sysline', dataset: { id: m.id, kind: m.kind } },
    h('span', {}, line),
    ' ',
    h('time', { datetime: new Date(m.at * 1000).toISOString(), title: fmtWhen(m.at) }, fmtDate(m.at)),
    ' ',
    levelBadge(m.level),
    m.mine ? ' ' : null,
    m.mine ? ticks(m) : null,
  );
}

// A group's members: each with a Remove button, and an address to add.
// A change is itself a chat message of the group (docs/CHAT.md "Groups").
function membersPanel(me) {
  const c = me.chat;
  const err = h('div', { class: 'chaterr', id: 'chat-members-error', role: 'alert' });
  const addr = h('input', {
    id: 'chat-member-add',
    type: 'text',
    inputmode: 'email',
    autocomplete: 'off',
    maxlength: '320',
    placeholder: 'carol@example.org',
    'aria-label': 'Address to add to the group',
  });
  const change = async (body, btn) => {
    mount(err);
    btn.disabled = true;
    try {
      const r = await api.post(`/api/chats/${encodeURIComponent(c.id)}/members`, body);
      me.membersOpen = true;
      addr.value = ''; // done: the redraw keeps no address
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
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (addr.value.trim()) change({ add: addr.value.trim() }, add);
  });
  const box = h(
    'details',
    { class: 'chatmembers', id: 'chat-members' },
    h('summary', {}, `Members (${(c.members || []).length + (c.removed ? 0 : 1)})`),
    h('ul', { class: 'memlist' }, c.removed ? null : h('li', {}, h('span', { class: 'memaddr' }, 'You')), rows),
    c.removed ? h('p', { class: 'muted small' }, 'You are no longer a member of this group.') : form,
    h(
      'p',
      { class: 'hint muted small' },
      'A change is a message to the group at its level: the members after it get it (and the one removed, who then gets nothing more).',
    ),
    err,
  );
  if (me.membersOpen) box.open = true;
  box.addEventListener('toggle', () => {
    me.membersOpen = box.open;
  });
  return box;
}

function bubble(m, group) {
  if (m.kind && m.kind !== 'text') return sysline(m);
  return h(
    'li',
    {
      class: `bubble ${m.mine ? 'mine' : 'theirs'}`,
      dataset: { id: m.id },
    },
    !m.mine && group ? h('span', { class: 'bsender' }, m.sender) : null,
    m.text || !(m.files && m.files.length) ? h('span', { class: 'btext' }, m.text || '(this message cannot be opened here)') : null,
    files(m),
    h(
      'span',
      { class: 'bmeta' },
      m.mine ? h('span', { class: 'sr-only' }, 'You, ') : h('span', { class: 'sr-only' }, `${m.sender}, `),
      h(
        'time',
        {
          datetime: new Date(m.at * 1000).toISOString(),
          title: fmtWhen(m.at),
        },
        fmtDate(m.at),
      ),
      ' ',
      levelBadge(m.level),
      m.mine ? ' ' : null,
      m.mine ? ticks(m) : null,
    ),
  );
}

function drawChat(me, focus = true) {
  const c = me.chat;
  // the scrolling box is the log (announced as messages come); the
  // bubbles are a list inside it
  const log = h(
    'div',
    { class: 'bubbles', id: 'bubbles', role: 'log', 'aria-live': 'polite', 'aria-label': `Messages with ${who(c)}`, tabindex: '0' },
    h(
      'ol',
      { class: 'bubblelist' },
      me.messages.map((m) => bubble(m, c.group)),
    ),
  );
  const text = h('textarea', { id: 'chat-text', rows: '2', maxlength: '65536', placeholder: 'Message', 'aria-describedby': 'chat-help' });
  const level = h(
    'select',
    { id: 'chat-level', 'aria-label': 'Send at level' },
    h('option', { value: '0' }, `Level ${c.level} (this chat's)`),
    LEVELS.map((n) => h('option', { value: String(n) }, LEVEL_NAMES[n])),
  );
  const err = h('div', { class: 'chaterr', id: 'chat-error', role: 'alert' });
  const send = h('button', { type: 'submit', class: 'btn primary' }, 'Send');
  // files: uploaded at once into the session, sent with the next message
  const fileIn = h('input', {
    type: 'file',
    id: 'chat-file',
    multiple: true,
    hidden: true,
    'aria-label': 'Files to attach',
  });
  const attach = h(
    'button',
    {
      type: 'button',
      class: 'btn ghost',
      id: 'chat-attach',
      title: 'Attach files or images',
      'aria-label': 'Attach files',
    },
    clip(),
    h('span', { class: 'attword' }, ' Attach'),
  );
  const upList = h('ul', {
    class: 'chatuploads',
    id: 'chat-uploads',
    'aria-label': 'Files to send',
  });
  me.uploads = me.uploads || [];
  const drawUploads = () =>
    mount(
      upList,
      me.uploads.map((u) =>
        h(
          'li',
          {},
          u.name,
          ' ',
          h('span', { class: 'muted' }, u.id ? fmtSize(u.size) : u.error ? u.error : `${Math.round((u.progress || 0) * 100)}%`),
          ' ',
          h(
            'button',
            {
              type: 'button',
              class: 'btn ghost small',
              'aria-label': `Remove ${u.name}`,
              onclick: async () => {
                me.uploads = me.uploads.filter((x) => x !== u);
                drawUploads();
                if (u.id)
                  try {
                    await api.del(`/api/uploads/${encodeURIComponent(u.id)}`);
                  } catch (e) {
                    /* gone */
                  }
              },
            },
            '\u00D7',
          ),
        ),
      ),
    );
  attach.addEventListener('click', () => fileIn.click());
  fileIn.addEventListener('change', async () => {
    const picked = [...fileIn.files];
    fileIn.value = '';
    await Promise.all(
      picked.map(async (f) => {
        const u = { name: f.name, size: f.size, progress: 0 };
        me.uploads.push(u);
        drawUploads();
        try {
          const r = await upload(f, (p) => {
            u.progress = p;
            drawUploads();
          });
          u.id = r.id;
        } catch (e) {
          u.error = e.message;
        }
        drawUploads();
      }),
    );
    text.focus();
  });
  drawUploads();
  const form = h(
    'form',
    { class: 'chatcompose', 'aria-label': 'Write a message' },
    h('label', { for: 'chat-text', class: 'sr-only' }, `Message to ${who(c)}`),
    text,
    upList,
    h('div', { class: 'chatctl' }, attach, fileIn, level, send),
    h('small', { id: 'chat-help', class: 'hint muted' }, 'Enter sends, Shift+Enter starts a new line.'),
    err,
  );
  const doSend = async () => {
    const ups = me.uploads.filter((u) => u.id);
    if (me.uploads.some((u) => !u.id && !u.error)) {
      mount(err, 'Wait for the files to finish uploading.');
      return;
    }
    if (!text.value.trim() && !ups.length) return;
    send.disabled = true;
    mount(err);
    try {
      const r = await api.post(`/api/chats/${encodeURIComponent(c.id)}/messages`, {
        text: text.value,
        level: Number(level.value),
        uploads: ups.map((u) => u.id),
      });
      text.value = '';
      level.value = '0';
      me.uploads = [];
      drawUploads();
      if (current === me) await refreshChat(me);
      // kept in the conversation, waiting in the
      // outbox: say why
      if (r.error) mount(document.getElementById('chat-error') || err, `In the outbox: ${r.error}`);
    } catch (e) {
      mount(err, `Not sent: ${e.message}`);
      // the level rule: the conversation is held to a
      // stronger level; changing it is the person's
      // own, explicit step
      if (e.code === 'conflict' && e.asked) {
        const to = e.asked;
        err.append(
          ' ',
          h(
            'button',
            {
              type: 'button',
              class: 'btn small',
              id: 'chat-level-change',
              onclick: async () => {
                try {
                  await api.post(`/api/chats/${encodeURIComponent(c.id)}/level`, {
                    level: to,
                  });
                  const keep = text.value;
                  await refreshChat(me);
                  const t = document.getElementById('chat-text');
                  if (t) {
                    t.value = keep;
                    document.getElementById('chat-level').value = String(to);
                    mount(document.getElementById('chat-error'), `This conversation is now held to level ${to}. Press Send to send at it.`);
                    t.focus();
                  }
                } catch (x) {
                  mount(err, x.message);
                }
              },
            },
            `Change this conversation to level ${to}`,
          ),
        );
      }
    }
    send.disabled = false;
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    doSend();
  });
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      doSend();
    }
  });
  mount(
    me.pane,
    h(
      'div',
      { class: 'chathead' },
      h('a', { class: 'btn ghost small back', href: '#/chats' }, '\u2039 Chats'),
      h('h2', { id: 'chat-title' }, who(c)),
      ' ',
      levelBadge(c.level),
      receiptsToggle(me),
      c.altered ? h('p', { class: 'error small' }, 'This conversation was changed on disk outside QMail: set its level again before sending.') : null,
      c.group ? membersPanel(me) : null,
    ),
    log,
    c.removed
      ? h(
          'p',
          { class: 'muted chatgone', id: 'chat-removed' },
          'You are no longer a member of this group: a member has to add you again before you can write in it.',
        )
      : form,
  );
  log.scrollTop = log.scrollHeight;
  if (focus) text.focus();
}

// The person's opt-in to send read receipts in this conversation (off
// until they turn it on; the other side's choice never turns it on).
function receiptsToggle(me) {
  const c = me.chat;
  const box = h('input', {
    type: 'checkbox',
    id: 'chat-receipts',
    checked: !!c.receipts,
  });
  box.addEventListener('change', async () => {
    try {
      const r = await api.post(`/api/chats/${encodeURIComponent(c.id)}/receipts`, { on: box.checked });
      c.receipts = r.receipts;
    } catch (e) {
      box.checked = !!c.receipts;
      toastErr(e);
    }
  });
  return h(
    'label',
    { class: 'chatreceipts', for: 'chat-receipts', title: 'When on, the others see two ticks once you have read their messages' },
    box,
    ' Send read receipts',
  );
}
const toastErr = (e) => {
  const x = document.getElementById('chat-error');
  if (x) mount(x, e.message);
};

// The open conversation again (a send, or the events feed): what was
// typed and chosen in the compose box stays.
async function refreshChat(me) {
  if (!me.id) {
    await renderList(me);
    return;
  }
  const r = await api.get(`/api/chats/${encodeURIComponent(me.id)}`);
  if (current !== me) return;
  const text = document.getElementById('chat-text'),
    level = document.getElementById('chat-level');
  // what the person is typing survives the redraw: the message, its
  // level, and an address for the members panel (with its focus)
  const member = document.getElementById('chat-member-add');
  const keep = text ? text.value : '',
    lv = level ? level.value : '0',
    focused = document.activeElement === text,
    keepMember = member ? member.value : '',
    memberFocused = member && document.activeElement === member;
  me.chat = r.chat;
  me.messages = r.messages || [];
  drawChat(me, focused);
  // (a group the account was removed from has no compose box)
  const t2 = document.getElementById('chat-text'),
    l2 = document.getElementById('chat-level'),
    m2 = document.getElementById('chat-member-add');
  if (t2) t2.value = keep;
  if (l2 && [...l2.options].some((o) => o.value === lv)) l2.value = lv;
  if (m2) {
    m2.value = keepMember;
    if (memberFocused) m2.focus();
  }
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
  try {
    await refreshChat(me);
  } catch (e) {
    /* the next event tries again */
  }
}

function newForm(me) {
  const to = h('input', {
    id: 'chat-to',
    type: 'text',
    autocomplete: 'off',
    required: true,
    maxlength: '4096',
    placeholder: 'bob@example.org',
    'aria-describedby': 'chat-to-hint',
  });
  const level = h(
    'select',
    { id: 'chat-new-level' },
    h('option', { value: '0' }, 'Your default level'),
    LEVELS.map((n) => h('option', { value: String(n) }, LEVEL_NAMES[n])),
  );
  const text = h('textarea', { id: 'chat-new-text', rows: '3', required: true, maxlength: '65536' });
  const err = h('div', { class: 'chaterr', id: 'chat-new-error', role: 'alert' });
  const send = h('button', { type: 'submit', class: 'btn primary' }, 'Start chat');
  const lab = (id, t, hint) => [h('label', { for: id }, t), hint ? h('small', { class: 'hint', id: `${id}-hint` }, hint) : null];
  const form = h(
    'form',
    { class: 'card chatnew', 'aria-labelledby': 'chat-new-title' },
    h('a', { class: 'btn ghost small back', href: '#/chats' }, '\u2039 Chats'),
    h('h2', { id: 'chat-new-title' }, 'New chat'),
    h('div', { class: 'field' }, lab('chat-to', 'With', 'One address, or several separated by commas for a group.'), to),
    h('div', { class: 'field' }, lab('chat-new-level', 'Level'), level),
    h('div', { class: 'field' }, lab('chat-new-text', 'First message'), text),
    err,
    h('div', { class: 'actions' }, send),
  );
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
