// SPDX-License-Identifier: MIT
// Settings, the account form and its connection test, the keyring,
// the outbox and the drafts list.
import { api, qs, uploadTo } from './api.js';
import { h, mount, toast, field, fmtDate, ask } from './ui.js';
import { state, loadAccounts } from './app.js';
import { identitiesBox } from './identity.js';

const LEVELS = [[1, 'Level 1 — one-time pad (QKD)'], [2, 'Level 2 — QKD + AES-256'], [3, 'Level 3 — post-quantum'], [4, 'Level 4 — classical']];

// noneText: the label of value 0 ("No minimum", "Each account's own"), or
// null when a level must be chosen.
function levelSelect(value, noneText) {
  return h('select', {}, noneText ? h('option', { value: '0', selected: !value ? true : null }, noneText) : null,
    LEVELS.map(([v, t]) => h('option', { value: String(v), selected: value === v ? true : null }, t)));
}

function serverFields(title, srv, defPort) {
  const host = h('input', { type: 'text', value: srv.host || '', maxlength: '255', autocomplete: 'off' });
  const port = h('input', { type: 'number', min: '0', max: '65535', value: String(srv.port || defPort) });
  const sec = h('select', {}, ['tls', 'starttls', 'none'].map((s) => h('option', { value: s, selected: (srv.security || 'tls') === s ? true : null }, s === 'tls' ? 'TLS' : s === 'starttls' ? 'STARTTLS' : 'None (local tests only)')));
  const box = h('fieldset', { class: 'server' }, h('legend', {}, title), field('Host', host), field('Port', port), field('Security', sec));
  return { box, get: () => ({ host: host.value.trim(), port: Number(port.value) || 0, security: sec.value }), set: (s) => { host.value = s.host; port.value = String(s.port); sec.value = s.security; } };
}

function checkField(label, input, hint) {
  const id = `f-${Math.random().toString(36).slice(2, 9)}`;
  const hintEl = hint ? h('small', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field check' }, h('label', {}, input, ` ${label}`), hintEl);
}

// How an existing account syncs, deletes and keeps sent mail: the engine's
// per-account settings (the same as `qmail account set`). The IMAP-only
// ones show while the account receives with IMAP, the POP3 one with POP3.
// get() gives only what was changed, so that a setting left alone keeps
// following its default.
function mailSettings(a, incoming) {
  const sync = h('select', {}, [['subscribed', 'Subscribed folders'], ['all', 'All folders'], ['inbox', 'INBOX only']]
    .map(([v, t]) => h('option', { value: v, selected: a.sync_folders === v ? true : null }, t)));
  const del = h('select', {}, [['trash', 'Move to Trash'], ['expunge', 'Delete for good']]
    .map(([v, t]) => h('option', { value: v, selected: a.delete_mode === v ? true : null }, t)));
  const hdr = h('input', { type: 'number', min: '0', max: '1000000', step: '1', value: String(a.header_first ?? 200) });
  const sent = h('input', { type: 'checkbox', checked: !!a.save_sent });
  const sentL1 = h('input', { type: 'checkbox', checked: !!a.save_sent_level1 });
  const popDel = h('input', { type: 'checkbox', checked: !!a.pop3_delete });
  const invite = h('input', { type: 'checkbox', checked: !!a.plain_invite });
  const fSync = field('Folders to sync', sync, 'INBOX is always synced; the others as chosen here.');
  const fHdr = field('Download headers first above this many new messages', hdr,
    'A folder with more new messages than this lists them from their headers at once; the bodies follow, or come when you open a message. 0: never. QMail messages are always fetched whole.');
  const fSent = checkField('Keep a copy in the Sent folder, sealed to your own key', sent,
    'The server keeps a copy of what you send that only your key opens (level 3), so your other devices, or this one restored from a key backup, can read it. Off: only this QMail keeps it.');
  const fSentL1 = checkField('Also for level-1 mail', sentL1,
    'Off by default: level 1 is a one-time pad, the copy on the server would only be as strong as level 3.');
  const fPop = checkField('Delete from the server after download', popDel, 'POP3: the server keeps no copy once QMail has the message.');
  const fInvite = checkField('Invite people without QMail', invite, 'An unencrypted message to someone without QMail ends with a short note on what QMail is. Encrypted messages never carry it.');
  const show = () => {
    const pop = incoming.value === 'pop3';
    fSync.hidden = pop; fHdr.hidden = pop; fPop.hidden = !pop;
    fSent.hidden = !(a.imap && a.imap.host);
    fSentL1.hidden = fSent.hidden || !sent.checked;
  };
  incoming.addEventListener('change', show);
  sent.addEventListener('change', show);
  show();
  const box = h('fieldset', { class: 'server mailset' }, h('legend', {}, 'Mail'),
    fSync, field('Delete', del, 'Trash: deleting moves a message to the Trash folder (from Trash: for good).'), fHdr, fSent, fSentL1, fPop, fInvite);
  const get = () => {
    const o = {};
    if (sync.value !== a.sync_folders) o.sync_folders = sync.value;
    if (del.value !== a.delete_mode) o.delete_mode = del.value;
    if (hdr.value.trim() !== String(a.header_first)) o.header_first = /^-?\d+$/.test(hdr.value.trim()) ? Number(hdr.value.trim()) : hdr.value.trim();
    if (sent.checked !== !!a.save_sent) o.save_sent = sent.checked;
    if (sentL1.checked !== !!a.save_sent_level1) o.save_sent_level1 = sentL1.checked;
    if (popDel.checked !== !!a.pop3_delete) o.pop3_delete = popDel.checked;
    if (invite.checked !== !!a.plain_invite) o.plain_invite = invite.checked;
    return o;
  };
  return { box, get };
}

// The account form; returns the form and a getter. a: existing account or {}.
export function accountForm(a, presets) {
  const name = h('input', { type: 'text', value: a.name || '', maxlength: '255', autocomplete: 'name' });
  const address = h('input', { type: 'email', value: a.address || '', maxlength: '320', required: true, autocomplete: 'email' });
  const username = h('input', { type: 'text', value: a.username || '', maxlength: '320', autocomplete: 'username' });
  const password = h('input', { type: 'password', maxlength: '1024', autocomplete: 'new-password', placeholder: a.has_password ? '(unchanged)' : '' });
  const smtp = serverFields('Sending (SMTP)', a.smtp || {}, 587);
  const imap = serverFields('Receiving (IMAP)', a.imap || {}, 993);
  const pop3 = serverFields('Receiving (POP3, if no IMAP)', a.pop3 || {}, 995);
  const sae = h('input', { type: 'text', value: a.sae_id || '', maxlength: '255' });
  const kme = a.kme || {};
  const kurl = h('input', { type: 'url', value: kme.url || '', maxlength: '1000', placeholder: 'https://kme.example:8443' });
  const kca = h('input', { type: 'text', value: kme.ca || '', maxlength: '1000', placeholder: '/path/to/ca.pem' });
  const kcert = h('input', { type: 'text', value: kme.cert || '', maxlength: '1000', placeholder: '/path/to/client.pem' });
  const kkey = h('input', { type: 'text', value: kme.key || '', maxlength: '1000', placeholder: '/path/to/client.key' });
  const level = levelSelect(a.default_level || 2, null);
  const incoming = h('select', {}, h('option', { value: 'imap', selected: a.incoming !== 'pop3' ? true : null }, 'IMAP'), h('option', { value: 'pop3', selected: a.incoming === 'pop3' ? true : null }, 'POP3'));
  const mailCa = h('input', { type: 'text', value: a.mail_ca || '', maxlength: '1000', placeholder: 'only for a self-hosted server with its own CA' });
  const presetBar = presets ? h('div', { class: 'presets', role: 'group', 'aria-label': 'Provider presets' },
    presets.map((p) => h('button', { type: 'button', class: 'btn', onclick: () => { smtp.set(p.smtp); imap.set(p.imap); pop3.set(p.pop3); toast(`${p.name} settings filled in. Use an app password if your provider asks for one.`); } }, p.name))) : null;
  const mail = a.id ? mailSettings(a, incoming) : null;
  const box = h('div', {},
    presetBar,
    field('Your name', name), field('E-mail address', address), field('Login name', username, 'Usually your e-mail address.'),
    field('Password', password, 'For Gmail, Outlook and Yahoo use an app password. It is kept encrypted in your vault.'),
    h('div', { class: 'servers' }, smtp.box, imap.box, pop3.box),
    field('Receive with', incoming), field('Mail server CA certificate', mailCa, 'Leave empty for Gmail, Outlook, Yahoo and other public providers.'),
    h('fieldset', { class: 'server' }, h('legend', {}, 'Key manager (KME, ETSI GS QKD 014)'),
      field('Your SAE ID', sae, 'The name of this device at your KME.'), field('KME address', kurl),
      field('CA certificate', kca), field('Client certificate', kcert), field('Client key', kkey)),
    mail ? mail.box : null,
    field('Default security level', level, 'Used when Settings > Security levels leaves the default to each account.'));
  const get = () => {
    const o = { name: name.value.trim(), address: address.value.trim(), username: username.value.trim(), sae_id: sae.value.trim(),
      smtp: smtp.get(), imap: imap.get(), pop3: pop3.get(), kme: { url: kurl.value.trim(), ca: kca.value.trim(), cert: kcert.value.trim(), key: kkey.value.trim() },
      default_level: Number(level.value), incoming: incoming.value, mail_ca: mailCa.value.trim() };
    if (password.value) o.password = password.value;
    if (mail) Object.assign(o, mail.get());
    return o;
  };
  return { box, get, clearPassword: () => { password.value = ''; } };
}

export function checkRow(label, c) {
  const cls = !c.tried ? 'muted' : (c.ok ? 'ok' : 'error');
  return h('li', { class: `check ${cls}` }, h('strong', {}, `${label}: `), !c.tried ? 'not used' : (c.ok ? `OK (${c.ms} ms)` : 'failed'), c.message ? ` — ${c.message}` : '');
}

async function testAccount(id, out) {
  mount(out, h('p', { class: 'muted' }, 'Testing the connections…'));
  try {
    const r = await api.post(`/api/accounts/${encodeURIComponent(id)}/test`, {});
    mount(out, h('ul', { class: 'checks', 'aria-label': 'Connection test results' }, checkRow('Sending (SMTP)', r.smtp), checkRow('Receiving (IMAP/POP3)', r.incoming), checkRow('Key manager (KME)', r.kme)));
  } catch (e) { mount(out, h('p', { class: 'error', role: 'alert' }, e.message)); }
}

// "64M" for whole MiB, "64K" for whole KiB, else the number (as qmail config).
function sizeText(l, v) {
  if (l.unit !== 'bytes' || !v) return String(v);
  if (v % 1048576 === 0) return `${v / 1048576}M`;
  if (v % 1024 === 0) return `${v / 1024}K`;
  return String(v);
}

// The resource limits: value in force, default and range; a value may be
// lowered, and raised up to the ceiling (the server says why it refuses).
// The engine's settings for signing in and finding servers: the person's
// own OAuth client IDs (a secret is shown by its first characters only,
// and sent only when typed anew) and where discovery asks.
function signinSection(list, root) {
  const inputs = [];
  const rows = list.map((x) => {
    const inp = h('input', { type: x.secret ? 'password' : 'text', maxlength: '1000', autocomplete: 'off', value: x.secret ? '' : x.value,
      placeholder: x.secret && x.set ? `set (${x.value})` : (x.values || '') });
    inputs.push({ inp, x });
    return field(x.name, inp, x.what);
  });
  const save = async () => {
    const change = {};
    for (const { inp, x } of inputs) {
      const v = inp.value.trim();
      if (x.secret ? v !== '' : v !== x.value) change[x.name] = v;
    }
    if (!Object.keys(change).length) { toast('Nothing changed'); return; }
    try { await api.put('/api/settings', { signin: change }); toast('Saved'); showSettings(root); } catch (e) { toast(e.message, 'error'); }
  };
  return h('section', { class: 'card', 'aria-labelledby': 's-signin' }, h('h2', { id: 's-signin' }, 'Signing in and finding servers'),
    h('p', { class: 'muted' }, 'Gmail, Outlook and Yahoo sign in with an OAuth client ID of your own (docs/USING.md, "OAuth2 sign-in", says how to register one). Leave a field empty to unset it.'),
    rows, h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn primary', onclick: save }, 'Save')));
}

function limitsSection(limits, root) {
  const inputs = {};
  const rows = limits.map((l) => {
    const id = `lim-${l.name.replace(/[^a-z_]/g, '-')}`;
    const inp = h('input', { type: 'text', id, value: sizeText(l, l.value), maxlength: '16', size: '8', 'aria-describedby': `${id}-d` });
    inputs[l.name] = { inp, l };
    return h('tr', {}, h('td', {}, h('label', { for: id }, l.name), h('div', { class: 'muted', id: `${id}-d` }, `${l.what} (${l.unit})`)), h('td', {}, inp),
      h('td', {}, sizeText(l, l.default)), h('td', {}, `${sizeText(l, l.min)} to ${sizeText(l, l.ceiling)}`),
      h('td', {}, l.set ? 'set by you' : 'default'));
  });
  const save = async () => {
    const change = {};
    for (const [name, { inp, l }] of Object.entries(inputs)) {
      const v = inp.value.trim();
      if (v !== sizeText(l, l.value)) change[name] = v === '' ? 'default' : v;
    }
    if (!Object.keys(change).length) { toast('Nothing changed'); return; }
    try { await api.put('/api/settings', { limits: change }); toast('Saved'); showSettings(root); } catch (e) { toast(e.message, 'error'); }
  };
  const reset = async () => {
    const change = {};
    for (const name of Object.keys(inputs)) change[name] = 'default';
    try { await api.put('/api/settings', { limits: change }); toast('Limits back to their defaults'); showSettings(root); } catch (e) { toast(e.message, 'error'); }
  };
  return h('section', { class: 'card', 'aria-labelledby': 's-lim' }, h('h2', { id: 's-lim' }, 'Limits'),
    h('p', { class: 'muted' }, 'Messages past a limit are refused with a message that names it. Sizes take K, M or G (10M is 10 MiB). A limit may be lowered, and raised up to its ceiling.'),
    h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Limit'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'Default'), h('th', { scope: 'col' }, 'Allowed'), h('th', { scope: 'col' }, 'State'))), h('tbody', {}, rows)),
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn primary', onclick: save }, 'Save limits'), h('button', { type: 'button', class: 'btn', onclick: reset }, 'Back to defaults')));
}

// Import (a .vcf file the user picks) and Export (a download) of the
// account's contacts as vCard; the engine says what it added and skipped.
function contactsVcard(root) {
  const file = h('input', { type: 'file', accept: '.vcf,text/vcard,text/x-vcard', 'aria-label': 'vCard file to import', id: 'vcard-file' });
  const out = h('div', { 'aria-live': 'polite', id: 'vcard-result' });
  const imp = async () => {
    const f = file.files && file.files[0];
    if (!f) { toast('Choose a .vcf file first', 'error'); return; }
    mount(out, h('p', { class: 'muted' }, 'Importing...'));
    try {
      const r = await uploadTo(`/api/contacts/import${qs({ account: state.account })}`, f);
      mount(out, h('p', {}, `${r.cards} cards read: ${r.added} contacts added, ${r.updated} names updated, ${r.unchanged} unchanged, ${r.skipped} skipped.`),
        r.error ? h('p', { class: 'error', role: 'alert' }, `Stopped: ${r.error}`) : null,
        (r.skipped_why || []).length ? h('ul', { class: 'plain muted' }, r.skipped_why.map((w) => h('li', {}, `Skipped ${w}`))) : null,
        h('button', { type: 'button', class: 'btn small', onclick: () => showSettings(root) }, 'Show the contacts'));
    } catch (e) { mount(out, h('p', { class: 'error', role: 'alert' }, e.message)); }
  };
  return h('div', { class: 'vcard' },
    h('h3', {}, 'vCard'),
    h('p', { class: 'muted' }, 'Import a .vcf file exported by Thunderbird, Proton Mail, Google Contacts or Apple Contacts (vCard 3.0 or 4.0). Each address becomes a contact with its name; a contact you have keeps its SAE ID, minimum level and keys.'),
    h('div', { class: 'inline' }, file, h('button', { type: 'button', class: 'btn', id: 'vcard-import', onclick: imp }, 'Import contacts'),
      h('a', { class: 'btn', id: 'vcard-export', href: `/api/contacts/export${qs({ account: state.account })}`, download: 'contacts.vcf' }, 'Export contacts (.vcf)')),
    out);
}

// Export a folder as an mbox download; import an mbox file the user picks
// into a folder kept on this computer (as plain mail, engine's words).
function mailData() {
  const folders = (state.folders || []).filter((f) => f.selectable);
  const from = h('select', { id: 'export-folder' }, (folders.length ? folders : [{ name: 'INBOX', display: 'Inbox' }]).map((f) => h('option', { value: f.name, selected: f.name === 'INBOX' ? true : null }, f.display || f.name)));
  const link = h('a', { class: 'btn', id: 'mail-export', download: '' }, 'Export as mbox');
  const setLink = () => { link.href = `/api/mail/export${qs({ account: state.account, folder: from.value })}`; link.setAttribute('download', `${from.value.replace(/[^A-Za-z0-9.-]/g, '_')}.mbox`); };
  from.addEventListener('change', setLink);
  setLink();
  const file = h('input', { type: 'file', accept: '.mbox,.mbx,application/mbox,text/plain', id: 'mbox-file' });
  const into = h('input', { type: 'text', id: 'import-folder', value: 'Imported', maxlength: '200' });
  const out = h('div', { 'aria-live': 'polite', id: 'mbox-result' });
  const imp = async () => {
    const f = file.files && file.files[0];
    if (!f) { toast('Choose an mbox file first', 'error'); return; }
    mount(out, h('p', { class: 'muted' }, 'Importing...'));
    try {
      const r = await uploadTo(`/api/mail/import${qs({ account: state.account, folder: into.value.trim() })}`, f,
        (p) => mount(out, h('p', { class: 'muted' }, `Uploading... ${Math.round(p * 100)}%`)));
      mount(out, h('p', {}, `${r.added} messages imported into ${r.folder}` + (r.duplicates ? `, ${r.duplicates} already here (skipped)` : '') + (r.skipped ? `, ${r.skipped} skipped: ${r.first_skip}` : '') + '.'),
        r.error ? h('p', { class: 'error', role: 'alert' }, `Stopped: ${r.error}`) : null,
        h('a', { class: 'btn small', href: `#/mail/${encodeURIComponent(r.folder)}` }, `Open ${r.folder}`));
    } catch (e) { mount(out, h('p', { class: 'error', role: 'alert' }, e.message)); }
  };
  return h('section', { class: 'card', 'aria-labelledby': 's-data' }, h('h2', { id: 's-data' }, 'Your mail: export and import'),
    h('p', { class: 'muted' }, 'An export is the readable mail of a folder as one mbox file, for any mail program or a backup. It is NOT encrypted: keep it as safe as the mail itself. Level-1 and level-2 messages cannot be decrypted again once read, so an export is their only copy outside QMail.'),
    h('div', { class: 'inline bottom' }, field('Folder', from), link),
    h('p', { class: 'muted' }, 'An import files the messages of an mbox file (Thunderbird, mutt, another QMail) into a folder kept on this computer. They are ordinary mail: never shown as encrypted or verified, whatever they say. Messages already here are skipped. For large files or a Maildir, use `qmail import`.'),
    h('div', { class: 'inline bottom' }, field('mbox file', file), field('Into folder', into), h('button', { type: 'button', class: 'btn', id: 'mbox-import', onclick: imp }, 'Import mbox')),
    out);
}

export async function showSettings(root) {
  const [accts, settings] = await Promise.all([api.get('/api/accounts'), api.get('/api/settings')]);
  const contacts = state.account ? (await api.get(`/api/contacts${qs({ account: state.account })}`)).contacts : [];
  const sections = [];
  // accounts
  sections.push(h('section', { class: 'card', 'aria-labelledby': 's-acc' }, h('h2', { id: 's-acc' }, 'Accounts'),
    h('ul', { class: 'plain' }, (accts.accounts || []).map((a) => {
      const out = h('div', { 'aria-live': 'polite' });
      const f = accountForm(a, null);
      const det = h('details', { dataset: { account: a.address } }, h('summary', {}, `${a.address}${a.name ? ` (${a.name})` : ''}`), f.box, identitiesBox(a),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn primary', onclick: async () => {
            mount(out);
            try { Object.assign(a, await api.put(`/api/accounts/${a.id}`, f.get())); f.clearPassword(); toast('Saved'); loadAccounts(); } catch (e) { mount(out, h('p', { class: 'error', role: 'alert' }, e.message)); }
          } }, 'Save'),
          h('button', { type: 'button', class: 'btn', onclick: () => testAccount(a.id, out) }, 'Test connection'),
          h('button', { type: 'button', class: 'btn danger', onclick: async () => { if (!(await ask(`Remove ${a.address}?`, 'Its mail, folders and settings on this computer are deleted. The mail on the server stays.', 'Remove the account', true))) return; try { const r = await api.del(`/api/accounts/${a.id}`); toast(r && !r.signed_out && r.message ? `Removed. ${r.message}` : 'Removed', r && !r.signed_out && r.message ? 'error' : ''); await loadAccounts(); showSettings(root); } catch (e) { toast(e.message, 'error'); } } }, 'Remove')), out);
      return h('li', {}, det);
    })),
    h('a', { class: 'btn', href: '#/wizard' }, 'Add account')));
  // levels
  const def = levelSelect(settings.default_level, "Each account's own default"), min = levelSelect(settings.min_level, 'No minimum');
  sections.push(h('section', { class: 'card', 'aria-labelledby': 's-lvl' }, h('h2', { id: 's-lvl' }, 'Security levels'),
    h('p', { class: 'muted' }, 'Level 1 is the strongest, level 4 the weakest. These apply to every account, in this window and in the qmail command line.'),
    field('Default level for new messages', def, 'A new message starts at this level; a message sent without one goes at it.'),
    field('Never send below', min, 'A message, or a fallback level, weaker than this is refused. Each contact can have its own minimum too (Contacts).'),
    h('button', { type: 'button', class: 'btn primary', onclick: async () => { try { await api.put('/api/settings', { default_level: Number(def.value), min_level: Number(min.value) }); toast('Saved'); } catch (e) { toast(e.message, 'error'); } } }, 'Save')));
  // new mail
  const every = h('input', { type: 'number', min: '0', max: '86400', step: '1', value: String(settings.background_sync_s ?? 300) });
  sections.push(h('section', { class: 'card', 'aria-labelledby': 's-new' }, h('h2', { id: 's-new' }, 'New mail'),
    field('Check every (seconds)', every, '0 turns background checking off. While it is on, IMAP accounts also get new mail the moment it arrives (IMAP IDLE); POP3 accounts are checked at this interval.'),
    h('button', { type: 'button', class: 'btn primary', onclick: async () => { try { await api.put('/api/settings', { background_sync_s: Number(every.value) }); toast('Saved'); } catch (e) { toast(e.message, 'error'); } } }, 'Save')));
  // resource limits
  sections.push(signinSection(settings.signin || [], root));
  sections.push(limitsSection(settings.limits || [], root));
  // contacts
  const rows = (contacts || []).map((c) => {
    const sae = h('input', { type: 'text', value: c.sae_id, maxlength: '255', 'aria-label': `SAE ID of ${c.address}` });
    const ml = levelSelect(c.min_level, 'No minimum');
    ml.setAttribute('aria-label', `Minimum level for ${c.address}`);
    return h('tr', {}, h('td', {}, c.name ? `${c.name} <${c.address}>` : c.address), h('td', {}, sae), h('td', {}, ml),
      h('td', {}, c.altered ? 'changed on disk outside QMail: not used until you save it again' : c.confirmed ? 'confirmed' : 'learned, not confirmed'),
      h('td', {}, h('button', { type: 'button', class: 'btn small', onclick: async () => { try { await api.put(`/api/contacts/${encodeURIComponent(c.address)}${qs({ account: state.account })}`, { sae_id: sae.value.trim(), min_level: Number(ml.value) }); toast('Saved'); } catch (e) { toast(e.message, 'error'); } } }, 'Save')));
  });
  const newAddr = h('input', { type: 'email', maxlength: '320', 'aria-label': 'New contact address', placeholder: 'bob@example.org' });
  const newSae = h('input', { type: 'text', maxlength: '255', 'aria-label': 'New contact SAE ID', placeholder: 'SAE ID' });
  sections.push(h('section', { class: 'card', 'aria-labelledby': 's-con' }, h('h2', { id: 's-con' }, 'Contacts'),
    h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Contact'), h('th', { scope: 'col' }, 'SAE ID'), h('th', { scope: 'col' }, 'Minimum level'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))), h('tbody', {}, rows)),
    h('div', { class: 'inline' }, newAddr, newSae, h('button', { type: 'button', class: 'btn', onclick: async () => {
      try { await api.put(`/api/contacts/${encodeURIComponent(newAddr.value.trim())}${qs({ account: state.account })}`, { sae_id: newSae.value.trim() }); toast('Contact added'); showSettings(root); } catch (e) { toast(e.message, 'error'); }
    } }, 'Add contact')),
    contactsVcard(root)));
  // your mail out and in
  sections.push(mailData());
  // passphrase
  const oldp = h('input', { type: 'password', autocomplete: 'current-password', maxlength: '1024' });
  const newp = h('input', { type: 'password', autocomplete: 'new-password', maxlength: '1024' });
  sections.push(h('section', { class: 'card', 'aria-labelledby': 's-pw' }, h('h2', { id: 's-pw' }, 'Passphrase'),
    field('Current passphrase', oldp), field('New passphrase', newp, 'At least 12 characters.'),
    h('button', { type: 'button', class: 'btn primary', onclick: async () => { try { await api.post('/api/passphrase', { old: oldp.value, new: newp.value }); oldp.value = ''; newp.value = ''; toast('Passphrase changed'); } catch (e) { toast(e.message, 'error'); } } }, 'Change passphrase'),
    ' ', h('button', { type: 'button', class: 'btn', onclick: () => document.getElementById('lock-btn').click() }, 'Lock now')));
  mount(root, h('div', { class: 'settings' }, h('h1', {}, 'Settings'), sections));
}

export async function showKeyring(root) {
  const k = await api.get(`/api/keyring${qs({ account: state.account })}`);
  const exportOut = h('textarea', { readonly: true, rows: '6', 'aria-label': 'Your public key', hidden: true });
  const importAddr = h('input', { type: 'email', maxlength: '320', placeholder: 'bob@example.org' });
  const importKey = h('textarea', { rows: '6', maxlength: '60000' });
  const vAddr = h('input', { type: 'email', maxlength: '320' });
  const vFpr = h('input', { type: 'text', maxlength: '79', class: 'mono' });
  const backup = keyBackup(root);
  mount(root, h('div', { class: 'settings' }, h('h1', {}, 'Keyring'),
    h('section', { class: 'card', 'aria-labelledby': 'k-own' }, h('h2', { id: 'k-own' }, 'Your keys'),
      h('p', {}, 'Read your fingerprint to a contact over the phone or in person; they compare it with what their QMail shows.'),
      h('ul', { class: 'plain' }, (k.own || []).map((o) => h('li', {}, h('strong', {}, o.address), ' ', h('code', { class: 'fpr' }, o.fingerprint), h('small', { class: 'muted' }, ` ${o.algorithms}`)))),
      h('button', { type: 'button', class: 'btn', onclick: async () => { try { const r = await api.get(`/api/keyring/export${qs({ account: state.account })}`); exportOut.value = r.key; exportOut.hidden = false; exportOut.select(); } catch (e) { toast(e.message, 'error'); } } }, 'Export my public key'), exportOut),
    h('section', { class: 'card', 'aria-labelledby': 'k-con' }, h('h2', { id: 'k-con' }, "Contacts' keys"),
      h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Contact'), h('th', { scope: 'col' }, 'Fingerprint'), h('th', { scope: 'col' }, 'Trust'), h('th', { scope: 'col' }, 'Added'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
        h('tbody', {}, (k.contacts || []).map((c) => h('tr', {}, h('td', {}, c.address), h('td', {}, h('code', { class: 'fpr' }, c.fingerprint)), h('td', {}, h('span', { class: `trust trust-${c.trust}` }, c.trust === 'changed' ? 'CHANGED: new key, not used until you accept it' : c.trust)), h('td', {}, fmtDate(c.added)),
          h('td', {}, c.trust !== 'retired' ? h('a', { class: 'btn small', href: `#/safety/${encodeURIComponent(c.address)}` }, 'Safety number') : null)))))),
    h('section', { class: 'card', 'aria-labelledby': 'k-imp' }, h('h2', { id: 'k-imp' }, 'Import a key'),
      field('Contact address', importAddr), field('Public key', importKey),
      h('button', { type: 'button', class: 'btn primary', onclick: async () => { try { const r = await api.post('/api/keyring/import', { address: importAddr.value.trim(), key: importKey.value }); toast(`Imported ${r.fingerprint} (${r.trust})`); showKeyring(root); } catch (e) { toast(e.message, 'error'); } } }, 'Import')),
    h('section', { class: 'card', 'aria-labelledby': 'k-ver' }, h('h2', { id: 'k-ver' }, 'Verify a contact'),
      h('p', {}, 'Type the fingerprint your contact reads to you. If it matches the key you have, the key becomes verified.'),
      field('Contact address', vAddr), field('Fingerprint they read to you', vFpr),
      h('button', { type: 'button', class: 'btn primary', onclick: async () => { try { await api.post('/api/keyring/verify', { address: vAddr.value.trim(), fingerprint: vFpr.value.trim() }); toast('Fingerprints match: key verified'); showKeyring(root); } catch (e) { toast(e.message, 'error'); } } }, 'Compare and verify')),
    backup));
}

// Your keys under a recovery passphrase (docs/CLIENT.md "Key backup"):
// downloaded as a text file; restored on a new machine after the account
// was added, so that it reads your Sent copies and drafts on the server.
function keyBackup(root) {
  const note = h('p', { class: 'small', role: 'status', id: 'backup-status' });
  const pass = h('input', { type: 'password', minlength: '12', maxlength: '1024', autocomplete: 'new-password' });
  const pass2 = h('input', { type: 'password', minlength: '12', maxlength: '1024', autocomplete: 'new-password' });
  const file = h('input', { type: 'file', accept: '.txt,text/plain' });
  const rpass = h('input', { type: 'password', maxlength: '1024', autocomplete: 'off' });
  const make = async () => {
    if (pass.value.length < 12) { note.textContent = 'Use a recovery passphrase of at least 12 characters.'; pass.focus(); return; }
    if (pass.value !== pass2.value) { note.textContent = 'The two passphrases differ.'; pass2.focus(); return; }
    try {
      const r = await api.post('/api/keyring/backup', { account: state.account, passphrase: pass.value });
      const a = h('a', { href: URL.createObjectURL(new Blob([r.backup], { type: 'text/plain' })), download: 'qmail-keys.txt' });
      document.body.append(a); a.click(); a.remove();
      pass.value = ''; pass2.value = '';
      note.textContent = 'Backup downloaded (qmail-keys.txt). Keep it apart from the recovery passphrase.';
    } catch (e) { note.textContent = e.message; }
  };
  let armed = false;
  const restoreBtn = h('button', { type: 'button', class: 'btn' }, 'Restore keys');
  const restore = async () => {
    const f = file.files && file.files[0];
    if (!f) { note.textContent = 'Choose the backup file first.'; return; }
    if (!armed) {
      // asked on the page, not in a browser dialog
      armed = true;
      restoreBtn.textContent = 'Replace my keys with the backup\u2019s';
      restoreBtn.classList.add('danger');
      note.textContent = 'Restoring replaces the keys of this account on this machine with the ones in the backup. Press the button again to go on.';
      return;
    }
    try {
      const r = await api.post('/api/keyring/restore', { account: state.account, passphrase: rpass.value, backup: await f.text() });
      rpass.value = '';
      toast(`Keys restored: ${r.fingerprint}. The next sync reads your Sent copies and drafts.`);
      showKeyring(root);
    } catch (e) { note.textContent = e.message; }
  };
  restoreBtn.addEventListener('click', restore);
  return h('section', { class: 'card', 'aria-labelledby': 'k-bak' }, h('h2', { id: 'k-bak' }, 'Key backup'),
    h('p', {}, 'Your Sent copies and drafts on the server are sealed to your key. Keep a backup of it: on a new machine, add the account, then restore the backup here. Level-1 and level-2 mail you already read cannot be read again from the server (its keys are gone); export it to keep it.'),
    field('Recovery passphrase (12 characters or more)', pass), field('The same again', pass2),
    h('button', { type: 'button', class: 'btn primary', onclick: make }, 'Download key backup'),
    h('h3', {}, 'Restore on this machine'),
    field('Backup file', file), field('Its recovery passphrase', rpass),
    restoreBtn, note);
}

// The safety number of the account and one contact: the same number on
// both sides, compared in person or on a call (or the QR code scanned);
// "Mark as verified" for a first key, "Accept new key" for a changed one.
export async function showSafety(root, address) {
  const s = await api.get(`/api/keyring/safety${qs({ account: state.account, address })}`);
  const changed = s.trust === 'changed';
  const groups = s.number.split(' ');
  const rows = [0, 4, 8].map((i) => h('div', { class: 'safety-row' }, groups.slice(i, i + 4).join(' ')));
  const verify = async (accept) => {
    try {
      await api.post('/api/keyring/safety', { account: state.account, address, number: s.number, accept_new_key: accept });
      toast(accept ? 'New key accepted and verified' : 'Key verified');
      showSafety(root, address);
    } catch (e) { toast(e.message, 'error'); }
  };
  mount(root, h('div', { class: 'settings safety' }, h('h1', {}, `Safety number: ${s.address}`),
    changed ? h('div', { class: 'card error', role: 'alert' }, h('strong', {}, 'This contact presents a NEW key. '),
      `It is not used until you accept it. Someone may be pretending to be ${s.address}: accept it only if ${s.address} confirms that the number below is the one they see.`) : null,
    h('section', { class: 'card', 'aria-labelledby': 'sn-h' }, h('h2', { id: 'sn-h' }, `You (${s.own_address}) and ${s.address}`),
      h('p', {}, `Both of you see the same number. Compare it in person or on a call (or scan the code with a phone); if it matches, the key of ${s.address} is really theirs.`),
      h('div', { class: 'safety-box' },
        h('div', { class: 'safety-number mono', 'aria-label': 'Safety number', 'data-number': s.number }, rows),
        s.qr_svg ? h('img', { class: 'safety-qr', alt: `QR code of the safety number ${s.number}`, src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(s.qr_svg)}` }) : null),
      h('p', {}, 'State: ', h('span', { class: `trust trust-${s.trust}` }, changed ? 'CHANGED (new key, not used)' : s.trust),
        s.altered ? h('span', { class: 'error' }, ' (its record was changed outside QMail)') : null),
      h('details', {}, h('summary', {}, 'Fingerprints'),
        h('p', {}, `${s.address}: `, h('code', { class: 'fpr' }, s.fingerprint)),
        h('p', {}, 'You: ', h('code', { class: 'fpr' }, s.own_fingerprint))),
      s.trust === 'verified' ? h('p', { class: 'trust-verified' }, 'You verified this key.')
        : changed ? h('button', { type: 'button', class: 'btn dangerfill', onclick: () => verify(true) }, 'Accept new key')
          : h('button', { type: 'button', class: 'btn primary', onclick: () => verify(false) }, 'Mark as verified'),
      ' ', h('a', { class: 'btn', href: '#/keyring' }, 'Back to the keyring'))));
}

const STATE_TEXT = { pending: 'queued', encrypting: 'encrypting', queued: 'queued', sending: 'sending', sent: 'sent', failed: 'failed', retrying: 'will retry' };

export async function showOutbox(root) {
  const r = await api.get(`/api/outbox${qs({ account: state.account })}`);
  const items = (r.items || []).sort((a, b) => b.updated - a.updated);
  mount(root, h('div', { class: 'settings' }, h('h1', {}, 'Outbox'),
    items.length ? h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'To'), h('th', { scope: 'col' }, 'Subject'), h('th', { scope: 'col' }, 'Level'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Attempts'), h('th', { scope: 'col' }, 'Updated'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', {}, items.map((o) => h('tr', { class: `ob-${o.state}` }, h('td', {}, o.to), h('td', { class: 'ob-subject' }, o.subject === null || o.subject === undefined ? h('span', { class: 'muted' }, 'not available') : (o.subject || '(no subject)')), h('td', {}, o.level ? `L${o.level}` : 'Plain (unencrypted)'),
        h('td', {}, h('span', { class: `state state-${o.state}` }, STATE_TEXT[o.state] || o.state), o.error ? h('div', { class: 'error small' }, o.error) : null,
          o.sent_copy_waits ? h('div', { class: 'muted small' }, 'The copy for the Sent folder failed; it is saved with the next outbox run.') : null,
          (o.state === 'pending' || o.state === 'retrying') && o.retry_at * 1000 > Date.now() ? h('div', { class: 'muted small' }, `Next try ${fmtDate(o.retry_at)}.`) : null,
          o.state === 'failed' && o.can_retry && o.error ? h('div', { class: 'muted small' }, 'Not sent and no key spent on it: once the cause is mended, try again.') : null),
        h('td', {}, String(o.attempts)), h('td', {}, fmtDate(o.updated)),
        h('td', {}, o.can_retry ? h('button', { type: 'button', class: 'btn small', onclick: async () => { try { const x = await api.post(`/api/outbox/${o.id}/retry`, {}); toast(x.sent ? 'Sent' : 'Still waiting'); showOutbox(root); } catch (e) { toast(e.message, 'error'); } } }, o.state === 'failed' ? 'Try again' : 'Retry now') : null))))) : h('p', { class: 'empty' }, 'Nothing in the outbox.')));
}

export let draftToOpen = null;

export async function showDrafts(root) {
  const r = await api.get(`/api/drafts${qs({ account: state.account })}`);
  mount(root, h('div', { class: 'settings' }, h('h1', {}, 'Drafts'),
    (r.drafts || []).length ? h('ul', { class: 'plain drafts' }, r.drafts.map((d) => h('li', {},
      h('a', { href: `#/compose/draft/${encodeURIComponent(d.id)}`, onclick: () => { draftToOpen = d; } }, d.subject || '(no subject)'),
      h('span', { class: 'muted' }, ` to ${(d.to || []).join(', ') || 'nobody yet'}`), ' ',
      h('button', { type: 'button', class: 'btn small danger', 'aria-label': `Delete draft ${d.subject}`, onclick: async () => { try { await api.del(`/api/drafts/${d.id}`); showDrafts(root); } catch (e) { toast(e.message, 'error'); } } }, 'Delete')))) : h('p', { class: 'empty' }, 'No drafts.')));
}
