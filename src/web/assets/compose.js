// SPDX-License-Identifier: MIT
// Compose: To/Cc/Bcc with autocomplete from past correspondents, subject,
// body, attachments by picker or drag and drop (with upload progress), the
// level selector that says for each level whether it can be used now (and
// is re-asked as recipients, text and attachments change; the default level
// of the settings is chosen until the person picks one), a notice naming
// the recipients whose public keys are not verified, drafts, send. Plain
// mail never by accident: when some recipients can get no encrypted
// message (QMail knows no key or SAE ID for them) a notice names them and
// the send button becomes "Send unencrypted to ..."; only that button asks
// the server for plain (allow_plain, plain_to: the names shown), and a
// change of recipients since the notice asks again before sending.
import { api } from './api.js';
import { upload, hintText } from './api.js';
import { h, mount, toast, fmtBytes, field, addrText } from './ui.js';
import { state } from './app.js';
import { replyTo } from './mail.js';
import { draftToOpen } from './settings.js';
import { richEditor } from './richtext.js';
import { loadIdentities } from './identity.js';

const LEVEL_NAMES = { 1: 'Level 1 — one-time pad (QKD)', 2: 'Level 2 — QKD + AES-256', 3: 'Level 3 — post-quantum', 4: 'Level 4 — classical' };

// The parts of an address list between commas or semicolons outside
// quotes ("Zimmer, Zoe" <zoe@example.org> is one).
function splitList(v) {
  const out = [];
  let cur = '', q = false;
  for (const ch of v) {
    if (ch === '"') q = !q;
    if (!q && (ch === ',' || ch === ';')) { out.push(cur); cur = ''; } else cur += ch;
  }
  out.push(cur);
  return out;
}

// The bare addresses of a To/Cc/Bcc field: "Name <addr>" gives addr;
// bare addresses may also be separated by spaces.
function splitAddrs(v) {
  return splitList(v).flatMap((s) => { const m = s.match(/<([^>]+)>/); return m ? [m[1].trim()] : s.split(/\s+/); }).map((s) => s.trim()).filter(Boolean);
}

function quote(m) {
  const who = addrText(m.from);
  return `\n\nOn ${new Date(m.date * 1000).toLocaleString()}, ${who} wrote:\n${(m.text || '').split('\n').map((l) => `> ${l}`).join('\n')}`;
}

export async function showCompose(root, kind, id) {
  const c = { uploads: [], draft: null, level: 0, chosen: false, inReplyTo: null, levels: [], plain: null, plainTo: [], checkedFor: '' };
  const to = h('input', { type: 'text', autocomplete: 'off', role: 'combobox', 'aria-autocomplete': 'list', 'aria-controls': 'addr-suggest', 'aria-expanded': 'false', maxlength: '8000', 'aria-required': 'true' });
  const cc = h('input', { type: 'text', autocomplete: 'off', role: 'combobox', 'aria-autocomplete': 'list', 'aria-controls': 'addr-suggest', 'aria-expanded': 'false', maxlength: '8000' });
  const bcc = h('input', { type: 'text', autocomplete: 'off', role: 'combobox', 'aria-autocomplete': 'list', 'aria-controls': 'addr-suggest', 'aria-expanded': 'false', maxlength: '8000' });
  const subject = h('input', { type: 'text', maxlength: '998' });
  const body = h('textarea', { rows: '8', maxlength: '4000000' });
  // the addresses that complete what is typed (contacts, then people
  // written to or heard from), under the field being typed in
  const suggest = h('ul', { class: 'suggest', id: 'addr-suggest', role: 'listbox', 'aria-label': 'Suggested addresses', hidden: true });
  const acct = h('select', {}, state.accounts.map((a) => h('option', { value: a.id, selected: a.id === state.account ? true : null }, addrText({ name: a.name, address: a.address }))));
  const levels = h('fieldset', { class: 'levels' }, h('legend', {}, 'Security level'));
  const needed = h('p', { class: 'muted', 'aria-live': 'polite' });
  // levels 3 and 4: whose public key was not compared with its owner
  const notice = h('p', { class: 'notice warn', role: 'status', 'aria-live': 'polite', hidden: true });
  const attList = h('ul', { class: 'uploads', 'aria-label': 'Attachments' });
  const fileInput = h('input', { type: 'file', multiple: true, class: 'sr-only', id: 'file-input' });
  const drop = h('div', { class: 'dropzone', tabindex: '0', role: 'button', 'aria-label': 'Add attachments: drop files here or press Enter to choose' },
    'Drop files here or ', h('label', { for: 'file-input', class: 'link' }, 'choose files'), fileInput);
  const status = h('p', { role: 'status', 'aria-live': 'polite' });
  const sendBtn = h('button', { type: 'submit', class: 'btn primary', id: 'send-btn' }, 'Send');
  // who would get an ordinary, unencrypted copy (and whether a floor forbids it)
  const plainNotice = h('div', { class: 'notice plain', id: 'plain-notice', role: 'status', 'aria-live': 'polite', hidden: true });
  // rich text (sanitised by the server before it is sent) or plain; the
  // From identity (shown when the account has more than one) and its
  // signature, swapped in the body when another is chosen
  const ed = richEditor(body);
  const fromSel = h('select', { id: 'from-identity' });
  const fromField = field('From address', fromSel, 'Sent with this account\'s keys; a reply goes from the address the message was sent to.');
  fromField.hidden = true;
  const msgField = field('Message', body);
  msgField.insertBefore(ed.el, body);
  const SUBJECT_HINT = 'The subject is encrypted too; mail servers only see "[QMail encrypted message]".';
  const subjectField = field('Subject', subject, SUBJECT_HINT);

  if (kind === 'draft' && draftToOpen && draftToOpen.id === id) {
    const d = draftToOpen;
    to.value = (d.to || []).join(', '); cc.value = (d.cc || []).join(', '); bcc.value = (d.bcc || []).join(', ');
    subject.value = d.subject || ''; body.value = d.text || '';
    c.draft = d.id; c.level = d.level || 0; c.chosen = !!d.level; c.inReplyTo = d.in_reply_to || null;
  } else if (kind && replyTo && replyTo.m && replyTo.m.id === id) {
    const m = replyTo.m;
    const self = (state.accounts.find((a) => a.id === state.account) || {}).address;
    const re = (s) => (/^re:/i.test(s) ? s : `Re: ${s}`);
    if (kind === 'reply' || kind === 'all') {
      // the engine's answer (Reply-To, else From; all: To and Cc but you)
      const rp = m.reply || { to: [m.from.address], all_cc: [...(m.to || []), ...(m.cc || [])].map((a) => a.address).filter((a) => a !== self) };
      to.value = rp.to.join(', ');
      if (kind === 'all') cc.value = rp.all_cc.join(', ');
      subject.value = re(m.subject || '');
      c.inReplyTo = m.message_id;
    } else {
      subject.value = /^fwd:/i.test(m.subject || '') ? m.subject : `Fwd: ${m.subject || ''}`;
      // the attachments go along, as uploads of this session (remove any)
      if ((m.attachments || []).length) {
        api.post(`/api/messages/${encodeURIComponent(m.id)}/forward`, {}).then((r) => {
          for (const u of r.uploads) c.uploads.push({ id: u.id, name: u.name, size: u.size, progress: 1 });
          renderUploads(); recheck();
        }).catch((e) => toast(`The attachments could not be added: ${e.message}`, 'error'));
      }
    }
    body.value = quote(m);
    c.quoted = body.value;
    c.replyFrom = kind === 'forward' ? '' : ((m.reply && m.reply.from) || '');
    if (m.security && m.security.level) { c.level = m.security.level; c.chosen = true; }
  }

  let timer = 0;
  const recheck = () => { clearTimeout(timer); timer = setTimeout(checkLevels, 300); };
  const rcptKey = () => JSON.stringify([acct.value, splitAddrs(to.value), splitAddrs(cc.value), splitAddrs(bcc.value)]);
  async function checkLevels() {
    const all = [...splitAddrs(to.value), ...splitAddrs(cc.value), ...splitAddrs(bcc.value)];
    const asked = rcptKey();
    let r;
    try {
      r = await api.post('/api/levels', { account: acct.value, to: splitAddrs(to.value), cc: splitAddrs(cc.value), bcc: splitAddrs(bcc.value), body_bytes: new Blob([body.value]).size + new Blob([subject.value]).size, uploads: c.uploads.filter((u) => u.id).map((u) => u.id) });
    } catch (e) { needed.textContent = all.length ? e.message : 'Add a recipient to see which levels can be used.'; c.plain = null; c.checkedFor = ''; showPlain(); return; }
    mount(levels, h('legend', {}, 'Security level'));
    c.levels = r.levels;
    c.plain = r.plain || null;
    c.checkedFor = asked;
    // until the person picks one: the default of the settings, when it can be used
    const def = r.levels.find((l) => l.level === r.default_level);
    if (!c.chosen) c.level = def && def.available ? def.level : 0;
    for (const l of r.levels) {
      const id = `level-${l.level}`;
      levels.appendChild(h('div', { class: `level ${l.available ? 'ok' : 'no'}` },
        h('input', { type: 'radio', name: 'level', id, value: String(l.level), checked: c.level === l.level ? true : null, 'aria-describedby': `${id}-why`, onchange: () => { c.level = l.level; c.chosen = true; showNotice(); } }),
        h('label', { for: id }, LEVEL_NAMES[l.level], l.level === r.default_level ? ' (default)' : '', ' ', h('span', { class: l.available ? 'avail' : 'unavail' }, l.available ? 'available' : 'not available')),
        h('small', { id: `${id}-why`, class: 'hint' }, l.available ? (l.note || '') : [l.reason || '', hintText(l.hint, l.hint_arg)].filter(Boolean).join(' '))));
    }
    const said = [];
    if (r.needed_bytes) said.push(`Level 1 needs ${fmtBytes(r.needed_bytes)} of QKD key material for this message.`);
    if (!c.chosen && def && !def.available) said.push(`Your default level ${def.level} cannot be used for this message: choose one.`);
    if (r.min_level) said.push(`Your settings allow level ${r.min_level} or stronger.`);
    needed.textContent = said.join(' ');
    showNotice();
    showPlain();
  }

  // The recipients who would get the message unencrypted: named, and the
  // send button says so (or, when a floor forbids it, cannot send).
  function showPlain() {
    const p = c.plain;
    const who = p && p.recipients ? p.recipients : [];
    const list = who.join(', ');
    const them = who.length > 1 ? 'them' : 'this address';
    c.plainTo = [];
    plainNotice.hidden = !who.length;
    // an unencrypted copy shows its subject to the servers
    subjectField.querySelector('.hint').textContent = who.length && p.allowed
      ? `${p.all ? 'The subject is not encrypted' : 'The subject is encrypted for the others'}: ${list} ${who.length > 1 ? 'get' : 'gets'} it in clear.` : SUBJECT_HINT;
    levels.hidden = !!(p && p.all && who.length);
    sendBtn.disabled = false;
    sendBtn.className = 'btn primary';
    sendBtn.textContent = 'Send';
    if (!who.length) { mount(plainNotice); return; }
    if (!p.allowed) {
      mount(plainNotice, h('strong', {}, 'Encryption required. '), `${p.reason} Remove ${list} from the recipients, or import ${who.length > 1 ? 'their public keys' : 'the public key'} in Keyring.`);
      sendBtn.disabled = true;
      return;
    }
    c.plainTo = who;
    mount(plainNotice, h('strong', {}, 'Not encrypted: '),
      `${list} cannot get an encrypted message: QMail knows no public key or SAE ID for ${them}. `,
      `If you send, ${list} will get an ordinary email that anyone on the way can read, subject and attachments included`,
      p.all ? '.' : '; the other recipients get it encrypted.',
      p.invite ? ' A short note on what QMail is ends the unencrypted copy (Settings > Accounts).' : '');
    sendBtn.className = 'btn dangerfill';
    sendBtn.textContent = `${p.all ? 'Send unencrypted to' : 'Send, unencrypted to'} ${list}`;
  }

  // Names the recipients whose public keys are not verified, for the level chosen.
  function showNotice() {
    const l = c.levels.find((x) => x.level === c.level);
    const who = l && l.available ? (l.unverified || []) : [];
    notice.hidden = !who.length;
    notice.textContent = who.length
      ? `Not verified: the public key of ${who.join(', ')} was not compared with ${who.length > 1 ? 'their owners' : 'its owner'}. The message is encrypted to ${who.length > 1 ? 'these keys' : 'this key'} as ${who.length > 1 ? 'they are' : 'it is'}; compare the safety number in Keyring to be sure.`
      : '';
  }

  const sug = { input: null, items: [], active: -1, seq: 0 };
  const closeSuggest = () => {
    suggest.hidden = true;
    if (sug.input) { sug.input.setAttribute('aria-expanded', 'false'); sug.input.removeAttribute('aria-activedescendant'); }
    sug.items = []; sug.active = -1;
  };
  const whoText = (x) => (x.name ? `${/[",;<>@()\\]/.test(x.name) ? `"${x.name.replace(/["\\]/g, '')}"` : x.name} <${x.address}>` : x.address);
  function markActive() {
    [...suggest.children].forEach((li, i) => li.setAttribute('aria-selected', i === sug.active ? 'true' : 'false'));
    if (sug.active >= 0) sug.input.setAttribute('aria-activedescendant', `addr-sug-${sug.active}`);
  }
  // Puts suggestion i in place of what is being typed, then ", ".
  function pickSuggest(i) {
    const x = sug.items[i], inp = sug.input;
    if (!x || !inp) return;
    const parts = splitList(inp.value);
    parts[parts.length - 1] = `${parts.length > 1 ? ' ' : ''}${whoText(x)}`;
    inp.value = `${parts.join(',')}, `;
    closeSuggest();
    inp.focus();
    recheck();
  }
  async function suggestFor(input) {
    const last = splitList(input.value).pop().trim();
    const seq = ++sug.seq;
    if (last.length < 1) { closeSuggest(); return; }
    try {
      const r = await api.get(`/api/contacts/suggest?account=${encodeURIComponent(acct.value)}&q=${encodeURIComponent(last)}`);
      if (seq !== sug.seq || document.activeElement !== input) return;
      sug.input = input; sug.items = r.contacts || []; sug.active = -1;
      if (!sug.items.length) { closeSuggest(); return; }
      mount(suggest, sug.items.map((x, i) => h('li', { role: 'option', id: `addr-sug-${i}`, 'aria-selected': 'false', onmousedown: (e) => { e.preventDefault(); pickSuggest(i); } },
        x.name ? h('strong', {}, x.name) : null, x.name ? ` <${x.address}>` : x.address,
        h('small', { class: 'muted' }, x.contact ? ' contact' : ` ${x.messages} message${x.messages === 1 ? '' : 's'}`))));
      input.insertAdjacentElement('afterend', suggest);
      suggest.style.top = `${input.offsetTop + input.offsetHeight + 2}px`;
      suggest.style.left = `${input.offsetLeft}px`;
      suggest.style.width = `${input.offsetWidth}px`;
      suggest.hidden = false;
      input.setAttribute('aria-expanded', 'true');
    } catch (e) { closeSuggest(); }
  }
  for (const inp of [to, cc, bcc]) {
    inp.addEventListener('input', () => { suggestFor(inp); recheck(); });
    inp.addEventListener('blur', () => { if (sug.input === inp) closeSuggest(); });
    inp.addEventListener('keydown', (e) => {
      if (suggest.hidden || sug.input !== inp) return;
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const n = sug.items.length;
        sug.active = e.key === 'ArrowDown' ? (sug.active + 1) % n : (sug.active + n - 1) % n;
        markActive();
      } else if (e.key === 'Enter' && sug.active >= 0) {
        e.preventDefault();
        pickSuggest(sug.active);
      } else if (e.key === 'Escape') {
        e.preventDefault();
        closeSuggest();
      }
    });
  }
  body.addEventListener('input', recheck);
  acct.addEventListener('change', recheck);
  let idents = [];
  async function loadFrom(prefer) {
    idents = await loadIdentities(acct.value);
    const pick = idents.find((i) => prefer && i.address.toLowerCase() === prefer.toLowerCase()) || idents.find((i) => i.default) || idents[0];
    mount(fromSel, idents.map((i) => h('option', { value: i.address, selected: i === pick ? true : null }, i.name ? `${i.name} <${i.address}>` : i.address)));
    fromField.hidden = idents.length < 2;
    if (kind !== 'draft') ed.setSignature(pick ? pick.signature : '', c.quoted);
  }
  fromSel.addEventListener('change', () => {
    const i = idents.find((x) => x.address === fromSel.value);
    ed.setSignature(i ? i.signature : '', c.quoted);
  });
  acct.addEventListener('change', () => loadFrom(''));

  function renderUploads() {
    mount(attList, c.uploads.map((u) => h('li', {},
      h('span', {}, u.name), ' ', h('span', { class: 'muted' }, fmtBytes(u.size)), ' ',
      u.id ? null : h('progress', { max: '100', value: String(Math.round(100 * (u.progress || 0))), 'aria-label': `Uploading ${u.name}` }),
      u.error ? h('span', { class: 'error' }, u.error) : null,
      h('button', { type: 'button', class: 'btn ghost small', 'aria-label': `Remove ${u.name}`, onclick: async () => {
        c.uploads = c.uploads.filter((x) => x !== u); renderUploads(); recheck();
        if (u.id) try { await api.del(`/api/uploads/${encodeURIComponent(u.id)}`); } catch (e) { /* gone */ }
      } }, '✕'))));
  }
  async function addFiles(files) {
    for (const f of files) {
      const u = { name: f.name, size: f.size, progress: 0 };
      c.uploads.push(u);
      renderUploads();
      try {
        const r = await upload(f, (p) => { u.progress = p; renderUploads(); });
        u.id = r.id;
      } catch (e) { u.error = e.message; toast(e.message, 'error'); }
      renderUploads();
      recheck();
    }
  }
  fileInput.addEventListener('change', () => { addFiles([...fileInput.files]); fileInput.value = ''; });
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); fileInput.click(); } });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); addFiles([...e.dataTransfer.files]); });

  function payload() {
    return { account: acct.value, from: fromSel.value || null, to: splitAddrs(to.value), cc: splitAddrs(cc.value), bcc: splitAddrs(bcc.value), subject: subject.value, text: ed.text(), uploads: c.uploads.filter((u) => u.id).map((u) => u.id), level: c.level || null, draft: c.draft, in_reply_to: c.inReplyTo };
  }
  // only the button that said "unencrypted" asks for plain, for those named
  function sendPayload() {
    const p = payload();
    // rich text: the HTML goes, the server makes the text part from it
    if (ed.rich) { p.html = ed.value().html; p.text = ''; }
    if (c.plainTo.length) { p.allow_plain = true; p.plain_to = c.plainTo; }
    if (c.plain && c.plain.all) p.level = null;
    return p;
  }
  // Saved by the button, and on its own a few seconds after the last
  // change (autosave). The engine also keeps it in the server's Drafts
  // folder, sealed to your key; the status says where it is.
  async function saveDraft(auto) {
    clearTimeout(c.autoTimer);
    if (sendBtn.disabled || c.discarded) return;
    const p = payload();
    try {
      const fresh = !c.draft;
      const d = c.draft ? await api.put(`/api/drafts/${encodeURIComponent(c.draft)}`, p) : await api.post('/api/drafts', p);
      c.draft = d.id;
      if (fresh && auto === true) c.autoDraft = true;
      const where = d.on_server ? ' (also in Drafts on the server, sealed to your key)'
        : d.server_error ? ` (on this device only: ${d.server_error})` : '';
      status.textContent = `${auto === true ? 'Draft autosaved' : 'Draft saved'} at ${new Date().toLocaleTimeString()}${where}`;
    } catch (e) {
      if (auto === true) status.textContent = `Not autosaved: ${e.message}`;
      else toast(e.message, 'error');
    }
  }
  const AUTOSAVE_MS = 4000;
  const autosave = () => {
    clearTimeout(c.autoTimer);
    if (!(to.value.trim() || subject.value.trim() || ed.text().trim())) return;
    c.autoTimer = setTimeout(() => saveDraft(true), AUTOSAVE_MS);
  };
  // Discard: a draft this form made on its own goes again
  async function discard(e) {
    e.preventDefault();
    c.discarded = true;
    clearTimeout(c.autoTimer);
    if (c.autoDraft && c.draft) {
      try { await api.del(`/api/drafts/${encodeURIComponent(c.draft)}`); } catch (err) { toast(err.message, 'error'); }
    }
    location.hash = '#/mail/INBOX';
  }

  const form = h('form', { class: 'compose card', 'aria-labelledby': 'compose-title' },
    h('h1', { id: 'compose-title' }, kind === 'forward' ? 'Forward' : kind === 'draft' ? 'Draft' : (kind ? 'Reply' : 'New message')),
    state.accounts.length > 1 ? field('From', acct) : null,
    field('To', to, 'Separate addresses with commas.'), field('Cc', cc), field('Bcc', bcc),
    subjectField,
    fromField, msgField, suggest, drop, attList, plainNotice, levels, needed, notice, status,
    h('div', { class: 'actions' }, sendBtn,
      h('button', { type: 'button', class: 'btn', onclick: saveDraft }, 'Save draft'),
      h('a', { class: 'btn ghost', href: '#/mail/INBOX', onclick: discard }, 'Discard')));
  form.addEventListener('input', autosave);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!splitAddrs(to.value).length) { status.textContent = 'Add at least one recipient.'; to.focus(); return; }
    if (c.uploads.some((u) => !u.id && !u.error)) { status.textContent = 'Wait for the uploads to finish.'; return; }
    if (c.checkedFor !== rcptKey()) {
      // the recipients changed since the notice: look again first
      clearTimeout(timer);
      await checkLevels();
      status.textContent = 'The recipients changed: check the form, then send again.';
      return;
    }
    if (!c.level && !(c.plain && c.plain.all)) { status.textContent = 'Choose a security level.'; return; }
    sendBtn.disabled = true;
    try {
      const r = await api.post('/api/send', sendPayload());
      const plain = r.plain && r.plain.length ? r.plain.join(', ') : '';
      toast(plain && !r.level ? `Queued unencrypted to ${plain}: ${r.state}`
        : plain ? `Queued at level ${r.level}, unencrypted to ${plain}: ${r.state}` : `Queued at level ${r.level}: ${r.state}`);
      if (r.note) toast(r.note);
      if (r.warning) toast(r.warning, 'warn');
      location.hash = '#/outbox';
    } catch (err) {
      status.textContent = err.message;
      sendBtn.disabled = false;
      // someone the form did not name as plain: show who, ask again
      if (err.code === 'plain_needed') checkLevels();
    }
  });
  mount(root, form);
  (to.value ? body : to).focus();
  loadFrom(c.replyFrom || '').then(() => { if (to.value) body.setSelectionRange(0, 0); });
  checkLevels();
}
