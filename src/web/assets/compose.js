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
import { h, mount, toast, fmtBytes, field, addrText, ask } from './ui.js';
import { state } from './app.js';
import { replyTo } from './mail.js';
import { draftToOpen } from './settings.js';
import { richEditor } from './richtext.js';
import { loadIdentities } from './identity.js';

// What an outbox state means to the person who just pressed Send.
const SEND_STATE = {
  pending: 'it goes in a moment', encrypting: 'being encrypted', queued: 'it goes as soon as the mail server answers',
  sending: 'being sent', retrying: 'the mail server did not take it yet; QMail tries again', failed: 'not sent (see Outbox)',
};

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

// The To, Cc and Bcc fields go to the server as typed: the engine parses
// them as RFC 5322 address lists (names, quoted names, groups) and names
// the entry it cannot read (docs/WEB.md "Addresses").

function quote(m) {
  const who = addrText(m.from);
  return `\n\nOn ${new Date(m.date * 1000).toLocaleString()}, ${who} wrote:\n${(m.text || '').split('\n').map((l) => `> ${l}`).join('\n')}`;
}

// The open form's way to be left for a new one (see composeAgain below).
let composeAgain = null;

// Compose asked for while a compose form is on screen: once the form
// there is kept, a new one goes in the box newRoot() gives.
export async function composeNew(newRoot) {
  if (composeAgain && await composeAgain()) { composeAgain = null; await showCompose(newRoot(), '', ''); return true; }
  return false;
}

export async function showCompose(root, kind, id) {
  const c = { uploads: [], draft: null, level: 0, chosen: false, inReplyTo: null, levels: [], plain: null, plainTo: [], checkedFor: '' };
  const to = h('input', { type: 'text', autocomplete: 'off', role: 'combobox', 'aria-autocomplete': 'list', 'aria-controls': 'addr-suggest', 'aria-expanded': 'false', maxlength: '8000', 'aria-required': 'true' });
  const cc = h('input', { type: 'text', autocomplete: 'off', role: 'combobox', 'aria-autocomplete': 'list', 'aria-controls': 'addr-suggest', 'aria-expanded': 'false', maxlength: '8000' });
  const bcc = h('input', { type: 'text', autocomplete: 'off', role: 'combobox', 'aria-autocomplete': 'list', 'aria-controls': 'addr-suggest', 'aria-expanded': 'false', maxlength: '8000' });
  const subject = h('input', { type: 'text' });
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
  // the picker's input is not shown: the button opens it
  const fileInput = h('input', { type: 'file', multiple: true, id: 'file-input', hidden: true });
  const drop = h('div', { class: 'dropzone' },
    'Drop files here or ', h('button', { type: 'button', class: 'linkbtn', id: 'choose-files', onclick: () => fileInput.click() }, 'choose files'), fileInput);
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
  // errors said next to the field they concern, cleared as it changes
  const errs = {};
  const inputs = { to, cc, bcc, subject };
  for (const [k, inp] of Object.entries(inputs)) {
    errs[k] = h('p', { class: 'fielderr', id: `${k}-err`, role: 'alert', hidden: true });
    inp.addEventListener('input', () => fieldError(k, ''));
  }
  function fieldError(k, text) {
    const el = errs[k], inp = inputs[k];
    if (!el) return;
    el.textContent = text;
    el.hidden = !text;
    if (text) { inp.setAttribute('aria-invalid', 'true'); inp.setAttribute('aria-errormessage', el.id); } else { inp.removeAttribute('aria-invalid'); inp.removeAttribute('aria-errormessage'); }
  }
  // each address field checked by the engine when the person leaves it
  async function checkAddrs(k) {
    const v = inputs[k].value.trim();
    if (!v) { fieldError(k, ''); return true; }
    try {
      const r = await api.post('/api/addresses/parse', { list: v });
      // an answer about what the field no longer says is dropped
      if (inputs[k].value.trim() !== v) return true;
      const bad = r.invalid || [];
      fieldError(k, bad.length ? `${bad.map((x) => `"${x}"`).join(', ')} ${bad.length > 1 ? 'are not email addresses' : 'is not an email address'}. Write it as name@example.org or Name <name@example.org>.` : '');
      return !bad.length;
    } catch (e) { return true; }
  }
  for (const k of ['to', 'cc', 'bcc']) inputs[k].addEventListener('change', () => checkAddrs(k));
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
  const rcptKey = () => JSON.stringify([acct.value, to.value.trim(), cc.value.trim(), bcc.value.trim()]);
  async function checkLevels() {
    const any = !!(to.value.trim() || cc.value.trim() || bcc.value.trim());
    const asked = rcptKey();
    let r;
    try {
      r = await api.post('/api/levels', { account: acct.value, to: to.value, cc: cc.value, bcc: bcc.value, body_bytes: new Blob([body.value]).size + new Blob([subject.value]).size, uploads: c.uploads.filter((u) => u.id).map((u) => u.id) });
      if (rcptKey() !== asked) return; // the recipients changed meanwhile: a newer check follows
      for (const f of ['to', 'cc', 'bcc']) fieldError(f, '');
    } catch (e) {
      if (rcptKey() !== asked) return;
      // a recipient the engine cannot read is said under its own field
      if (e.field && errs[e.field]) { fieldError(e.field, e.message); needed.textContent = ''; } else needed.textContent = any ? e.message : 'Add a recipient to see which levels can be used.';
      c.plain = null; c.checkedFor = ''; showPlain(); return;
    }
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
  // Closing also drops the answers still on their way: a list picked from
  // (or escaped) must not open again when a slower answer for an earlier
  // keystroke arrives.
  const closeSuggest = () => {
    sug.seq++;
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
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); addFiles([...e.dataTransfer.files]); });

  function payload() {
    return { account: acct.value, from: fromSel.value || null, to: to.value, cc: cc.value, bcc: bcc.value, subject: subject.value, text: ed.text(), uploads: c.uploads.filter((u) => u.id).map((u) => u.id), level: c.level || null, draft: c.draft, in_reply_to: c.inReplyTo };
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
  // whether the form holds anything of the person's
  const dirty = () => !!(to.value.trim() || cc.value.trim() || bcc.value.trim() || (subject.value.trim() && !kind) || (ed.text().trim() && ed.text().trim() !== (c.quoted || '').trim()) || c.uploads.length);
  // Compose pressed again while writing: this message is kept as a draft
  // and a new, empty form opens
  composeAgain = async () => {
    if (!document.body.contains(form)) return false;
    if (dirty() && !c.discarded) { await saveDraft(false); toast('The message you were writing is kept in Drafts.'); }
    c.discarded = true;
    clearTimeout(c.autoTimer);
    return true;
  };
  const AUTOSAVE_MS = 4000;
  const autosave = () => {
    clearTimeout(c.autoTimer);
    if (!(to.value.trim() || subject.value.trim() || ed.text().trim())) return;
    c.autoTimer = setTimeout(() => saveDraft(true), AUTOSAVE_MS);
  };
  // Discard: a draft this form made on its own goes again
  async function discard(e) {
    e.preventDefault();
    if (dirty() && !(await ask('Discard this message?', c.autoDraft ? 'What you wrote is lost, and its autosaved draft is deleted.' : c.draft ? 'The changes since the draft was saved are lost; the saved draft stays in Drafts.' : 'What you wrote is lost.', 'Discard', true))) return;
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
    withErr(field('To', to, 'Separate addresses with commas: name@example.org, Ann Lee <ann@example.org>.'), 'to'), withErr(field('Cc', cc), 'cc'), withErr(field('Bcc', bcc), 'bcc'),
    withErr(subjectField, 'subject'),
    fromField, msgField, suggest, drop, attList, plainNotice, levels, needed, notice, status,
    h('div', { class: 'actions' }, sendBtn,
      h('button', { type: 'button', class: 'btn', onclick: saveDraft }, 'Save draft'),
      h('a', { class: 'btn ghost', href: '#/mail/INBOX', onclick: discard }, 'Discard')));
  function withErr(f, k) { f.appendChild(errs[k]); return f; }
  form.addEventListener('input', autosave);
  // what the status said about an earlier try goes once the form changes
  form.addEventListener('input', () => { if (status.dataset.stale) { status.textContent = ''; delete status.dataset.stale; } });
  levels.addEventListener('change', () => { if (status.dataset.stale) { status.textContent = ''; delete status.dataset.stale; } });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.dataset.stale = '1';
    if (!to.value.trim() && !cc.value.trim() && !bcc.value.trim()) { fieldError('to', 'Add at least one recipient.'); status.textContent = ''; to.focus(); return; }
    const ok = (await Promise.all(['to', 'cc', 'bcc'].map(checkAddrs))).every(Boolean);
    if (!ok) { status.textContent = 'Correct the addresses marked above.'; form.querySelector('[aria-invalid="true"]').focus(); return; }
    if (c.uploads.some((u) => !u.id && !u.error)) { status.textContent = 'Wait for the uploads to finish.'; return; }
    if (c.checkedFor !== rcptKey()) {
      // the recipients changed since the notice: look again first
      clearTimeout(timer);
      await checkLevels();
      status.textContent = 'The recipients changed: check the form, then send again.';
      return;
    }
    if (!c.level && !(c.plain && c.plain.all)) { status.textContent = 'Choose a security level below the message.'; const r0 = levels.querySelector('input[type=radio]:not([disabled])'); if (r0) r0.focus(); return; }
    sendBtn.disabled = true;
    try {
      const r = await api.post('/api/send', sendPayload());
      const plain = r.plain && r.plain.length ? r.plain.join(', ') : '';
      const how = r.level ? `at level ${r.level}` : 'unencrypted';
      const done = r.state === 'sent' ? `Sent ${how}` : `In the outbox ${how}: ${SEND_STATE[r.state] || r.state}`;
      toast(plain && r.level ? `${done}; unencrypted to ${plain}.` : plain ? `${done} to ${plain}.` : `${done}.`);
      if (r.note) toast(r.note);
      if (r.warning) toast(r.warning, 'warn');
      location.hash = '#/outbox';
    } catch (err) {
      if (err.field && errs[err.field]) { fieldError(err.field, err.message); inputs[err.field].focus(); status.textContent = ''; } else status.textContent = err.message;
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
