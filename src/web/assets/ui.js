// SPDX-License-Identifier: MIT
// DOM helpers. Everything that comes from mail reaches the page through
// textContent and setAttribute here: no innerHTML, no eval, ever.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

export function mount(el, ...children) { clear(el); append(el, children); return el; }

export function toast(text, kind) {
  const t = h('div', { class: `toast ${kind || ''}`, role: kind === 'error' ? 'alert' : 'status', title: 'Click to close', onclick: () => t.remove() }, text);
  const box = document.getElementById('toasts');
  box.appendChild(t);
  // the newest three: a pile of notices would cover the page
  while (box.children.length > 3) box.firstChild.remove();
  setTimeout(() => t.remove(), kind === 'error' ? 9000 : 5000);
}

// The date and number formats, each made once: making one (ICU) costs
// far more than using it, and a list page shows 50 dates.
const FMT = {};
function dateFmt(name, opts) {
  if (!FMT[name]) FMT[name] = new Intl.DateTimeFormat([], opts);
  return FMT[name];
}

export function fmtDate(sec) {
  if (!sec) return '';
  const d = new Date(sec * 1000), now = new Date();
  if (d.toDateString() === now.toDateString())
    return dateFmt('time', { hour: '2-digit', minute: '2-digit' }).format(d);
  if (d.getFullYear() === now.getFullYear())
    return dateFmt('day', { month: 'short', day: 'numeric' }).format(d);
  return dateFmt('date', {}).format(d);
}

// A date and time in full, as Date's toLocaleString writes it.
export function fmtWhen(sec) {
  return dateFmt('when', { year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }).format(new Date(sec * 1000));
}

// A count grouped by thousands as the page's English words are
// ("100,000 messages"), without ICU: the first number format a page makes
// costs tens of ms, before the inbox's first rows.
export function fmtCount(n) {
  return String(Math.trunc(n || 0)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1048576).toFixed(1)} MB`;
  return `${(n / 1073741824).toFixed(2)} GB`;
}

// A rate as people read it: "1.0 MB/s", never "1085739 B/s".
export function fmtRate(bps) {
  if (bps === undefined || bps === null) return '';
  if (bps < 1024) return `${Math.round(bps)} B/s`;
  return `${fmtBytes(bps)}/s`;
}

export function addrText(a) {
  if (!a) return '';
  return a.name ? `${a.name} <${a.address}>` : a.address;
}

export const BADGES = {
  l1: ['L1 OTP', 'Level 1 — one-time pad with QKD keys. Unbreakable even by a quantum computer; authenticated with a one-time MAC.'],
  l2: ['L2 QKD-AES', 'Level 2 — AES-256-GCM with a key from quantum key distribution. Safe against classical and quantum attackers.'],
  l3: ['L3 PQC', 'Level 3 — post-quantum: ML-KEM-768 + X25519 key exchange, signed with ML-DSA-65 + Ed25519.'],
  l4: ['L4 classical', 'Level 4 — classical: X25519 + AES-256-GCM, signed with Ed25519. Safe today, not against a future quantum computer.'],
  plain: ['Not encrypted', 'Not encrypted: anyone on the way could have read or changed this message.'],
  tampered: ['Tampered', 'This message failed its integrity check: it was changed on the way or is forged. Its content is not shown.'],
  replay: ['Replay', 'This message reuses a key that another message already used. It was refused as a replay.'],
  refused: ['Refused', 'Past one of your limits (Settings > Limits), so it was not opened. It stays on the server: raise the limit and sync again to fetch it.'],
  pending: ['Not decrypted', 'Not decrypted yet: the next sync fetches its keys.'],
  unverified: ['Unverified sender', 'Decrypted, but not sent from the SAE ID confirmed for its From address: it may not be from who it says. The details say whose SAE sent it.'],
  waiting: ['Waiting', 'Not opened yet: its keys could not be asked for (the KME could not be used). Kept as received; a later sync opens it.'],
  unreadable: ['Unreadable', 'The message is malformed or the KME refused its key IDs. Kept as received: you can try it once more.'],
  sent: ['Sent by you', 'Sent (or written) by you. What its recipients got was encrypted for them; what is shown is your own copy: QMail’s copy of what you sent, or the copy on the server sealed to your own key.'],
  fromyou: ['From your address', 'From your address, but not sent from this QMail (another device of yours, or someone writing your address). It is encrypted for its recipients and cannot be read here; nothing of it is shown. If it was sent to you, Try again opens it as mail to you.'],
  nokey: ['No key', 'Cannot be read: the KME no longer has its keys, or the sender’s public key is not known.'],
  keyunverified: ['Key not verified', 'Signed by a key you have not verified: compare the safety number with the sender (Keyring > Safety number) before trusting who sent it.'],
  keychanged: ['Key changed', 'Signed by the key this contact had then; the contact presents another key since, not decided on yet (Keyring).'],
};

// The level or state of a message as a badge: its explanation on hover
// and, in the reader, read out with it; a list row reads its name only.
export function badge(sec, short) {
  const b = BADGES[(sec && sec.badge) || 'plain'] || BADGES.plain;
  const name = (sec && sec.badge) || 'plain';
  return h('span', { class: `badge badge-${name}`, title: b[1], 'aria-label': short ? b[0] : `${b[0]}: ${b[1]}`, role: 'img' }, b[0]);
}

// A labelled form field; returns [wrapper, input].
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const hintEl = hint ? h('small', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
}

// A question asked on the page (never the browser's own dialog): resolves
// true for the button named yes, false for Cancel or Escape. The focus
// goes back where it was.
export function ask(title, text, yes, danger) {
  return new Promise((resolve) => {
    const prev = document.activeElement;
    const done = (v) => { dlg.remove(); if (prev && prev.focus) prev.focus(); resolve(v); };
    const no = h('button', { type: 'button', class: 'btn', onclick: () => done(false) }, 'Cancel');
    const ok = h('button', { type: 'button', class: `btn ${danger ? 'dangerfill' : 'primary'}`, id: 'ask-yes', onclick: () => done(true) }, yes);
    const dlg = h('div', { class: 'help', role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': 'ask-title', 'aria-describedby': 'ask-text', id: 'ask',
      onkeydown: (e) => {
        if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); done(false); } else if (e.key === 'Tab') {
          // the focus stays in the question
          e.preventDefault(); (document.activeElement === no ? ok : no).focus();
        } else e.stopPropagation();
      } },
    h('div', { class: 'card' }, h('h2', { id: 'ask-title' }, title), h('p', { id: 'ask-text' }, text), h('div', { class: 'actions' }, ok, no)));
    document.body.appendChild(dlg);
    no.focus();
  });
}
