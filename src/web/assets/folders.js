// SPDX-License-Identifier: MIT
// The folder tree's own controls: "New folder" under the tree, and on each
// of the person's folders a menu (⋯) with Rename and Delete. Each is one
// call of the folder routes (POST /api/folders, /api/folders/rename,
// /api/folders/delete), which the engine does at once on the IMAP server
// and answers with the new folder list. INBOX and the special-use folders
// get no menu (the engine refuses to rename or delete them); a POP3
// account shows "New folder" disabled, the sidebar's POP3 note saying why.
import { api, qs } from './api.js';
import { h, toast, fmtCount } from './ui.js';
import { state, renderSidebar, isPop3 } from './app.js';

// The folder the page shows now, from the hash (#/mail/NAME/ID).
function shownFolder() {
  const p = (location.hash || '').slice(2).split('/');
  return p[0] === 'mail' && p[1] ? decodeURIComponent(p[1]) : '';
}

// The account's hierarchy delimiter ('' when its folders are flat).
function delim() {
  const f = state.folders.find((x) => x.delim);
  return f ? f.delim : '';
}

function closeMenu() {
  const m = document.getElementById('foldermenu');
  if (m) m.remove();
  document.removeEventListener('click', outside, true);
}

// A click elsewhere closes the menu (its own ⋯ button closes it itself).
function outside(e) { const m = document.getElementById('foldermenu'); if (m && !m.contains(e.target) && !e.target.closest('.fmenu[aria-expanded="true"]')) closeMenu(); }

// A small modal dialog: title, text, an optional name field, and two
// buttons. ok(value) does the work and returns an error message to show
// in the dialog (it stays open to correct the name), or '' when done.
function dialog({ title, text, value, label, hint, okLabel, danger, ok, back }) {
  const close = () => { dlg.remove(); if (back && document.body.contains(back)) back.focus(); };
  const input = label !== undefined ? h('input', { type: 'text', id: 'folder-name', maxlength: '200', required: true, value: value || '', autocomplete: 'off', 'aria-describedby': hint ? 'folder-hint' : null }) : null;
  const msg = h('p', { class: 'error', role: 'alert', id: 'folder-error' });
  const okBtn = h('button', { type: 'submit', class: `btn ${danger ? 'dangerfill' : 'primary'}`, id: 'folder-ok' }, okLabel);
  const form = h('form', { class: 'card' },
    h('h2', { id: 'folder-title' }, title),
    text ? h('p', { id: 'folder-text' }, text) : null,
    input ? h('div', { class: 'field' }, h('label', { for: 'folder-name' }, label), input, hint ? h('small', { class: 'hint', id: 'folder-hint' }, hint) : null) : null,
    msg,
    h('div', { class: 'actions' }, okBtn, h('button', { type: 'button', class: 'btn ghost', onclick: close }, 'Cancel')));
  const dlg = h('div', { class: 'help', id: 'folder-dialog', role: danger ? 'alertdialog' : 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'folder-title', 'aria-describedby': text ? 'folder-text' : null,
    onkeydown: (e) => { if (e.key === 'Escape') { e.preventDefault(); close(); } e.stopPropagation(); } }, form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = input ? input.value.trim() : '';
    if (input && !v) { msg.textContent = 'Type a name for the folder.'; input.focus(); return; }
    okBtn.disabled = true;
    msg.textContent = '';
    const err = await ok(v);
    okBtn.disabled = false;
    if (err) { msg.textContent = err; if (input) input.select(); return; }
    dlg.remove();
  });
  document.body.appendChild(dlg);
  if (input) { input.focus(); input.select(); } else okBtn.focus();
}

// Calls a folder route; the sidebar shows the list it answers. Returns
// '' or the error's message.
async function folderCall(path, body) {
  try {
    const r = await api.post(`${path}${qs({ account: state.account })}`, body);
    state.folders = r.folders || [];
    renderSidebar();
    window.dispatchEvent(new CustomEvent('qm-folders'));
    return '';
  } catch (e) { return e.message; }
}

function focusFolder(name) {
  const a = [...document.querySelectorAll('#folders a.folder')].find((x) => x.dataset.folder === name);
  if (a) a.focus();
}

// The server's name of the folder a person typed: the engine takes the
// display form too, but the list is looked up by the server's name.
function byDisplay(display) {
  const f = state.folders.find((x) => (x.display || x.name) === display || x.name === display);
  return f ? f.name : display;
}

function newFolder(btn) {
  const d = delim();
  dialog({
    title: 'New folder', label: 'Folder name', okLabel: 'Create',
    hint: d ? `On the server, for every mail client. Put ${d} between names for a folder inside another (Projects${d}2026).` : 'On the server, for every mail client.',
    back: btn,
    ok: async (name) => {
      const err = await folderCall('/api/folders', { name });
      if (!err) { toast(`Folder ${name} created`); focusFolder(byDisplay(name)); }
      return err;
    },
  });
}

function renameFolder(f, label, btn) {
  dialog({
    title: `Rename ${label}`, label: 'New name', value: f.display || f.name, okLabel: 'Rename',
    hint: 'QMail keeps the messages in it without fetching them again.',
    back: btn,
    ok: async (to) => {
      const err = await folderCall('/api/folders/rename', { name: f.name, to });
      if (err) return err;
      toast(`Renamed to ${to}`);
      const now = byDisplay(to);
      if (shownFolder() === f.name) location.hash = `#/mail/${encodeURIComponent(now)}`;
      focusFolder(now);
      return '';
    },
  });
}

function deleteFolder(f, label, btn) {
  const n = f.total || 0;
  dialog({
    title: `Delete ${label}?`, danger: true, okLabel: 'Delete folder',
    text: isPop3()
      ? `The folder and ${n === 1 ? 'the 1 message' : `the ${fmtCount(n)} messages`} in it are deleted from this computer (this POP3 account's folders are kept here); they do not go to Trash and cannot be brought back.`
      : `The folder and ${n === 1 ? 'the 1 message' : `the ${fmtCount(n)} messages`} in it are deleted on the server, for every mail client; they do not go to Trash and cannot be brought back. QMail keeps only the QMail-encrypted messages it has opened.`,
    back: btn,
    ok: async () => {
      const err = await folderCall('/api/folders/delete', { name: f.name });
      if (err) return err;
      toast(`Folder ${label} deleted`);
      if (shownFolder() === f.name) location.hash = '#/mail/INBOX';
      const nb = document.getElementById('newfolder-btn');
      if (nb) nb.focus();
      return '';
    },
  });
}

// The menu of one folder, under its ⋯ button: arrows move, Enter acts,
// Escape closes.
function folderMenu(f, label, btn) {
  closeMenu();
  const items = [
    h('button', { type: 'button', role: 'menuitem', class: 'menuitem', id: 'folder-rename', onclick: () => { closeMenu(); renameFolder(f, label, btn); } }, 'Rename\u2026'),
    h('button', { type: 'button', role: 'menuitem', class: 'menuitem danger', id: 'folder-delete', onclick: () => { closeMenu(); deleteFolder(f, label, btn); } }, 'Delete\u2026'),
  ];
  const menu = h('div', { class: 'menu', id: 'foldermenu', role: 'menu', 'aria-label': `Folder ${label}`,
    onkeydown: (e) => {
      const i = items.indexOf(document.activeElement);
      if (e.key === 'Escape') { e.preventDefault(); closeMenu(); btn.focus(); } else if (e.key === 'ArrowDown') { e.preventDefault(); items[(i + 1) % items.length].focus(); } else if (e.key === 'ArrowUp') { e.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
      e.stopPropagation();
    } }, items);
  document.body.appendChild(menu);
  btn.setAttribute('aria-expanded', 'true');
  const obs = new MutationObserver(() => { if (!document.body.contains(menu)) { btn.setAttribute('aria-expanded', 'false'); obs.disconnect(); } });
  obs.observe(document.body, { childList: true });
  const r = btn.getBoundingClientRect();
  menu.style.left = `${Math.max(8, Math.min(r.left, window.innerWidth - 230))}px`;
  menu.style.top = `${Math.min(r.bottom + 4, window.innerHeight - 100)}px`;
  items[0].focus();
  setTimeout(() => document.addEventListener('click', outside, true), 0);
}

// The ⋯ button of one of the person's folders (never INBOX or a folder
// of a special use; a POP3 account's are kept on this computer).
export function folderMenuButton(f, label) {
  if (f.use || f.name.toUpperCase() === 'INBOX') return null;
  const btn = h('button', {
    type: 'button', class: 'fmenu', 'aria-haspopup': 'menu', 'aria-expanded': 'false', dataset: { folder: f.name },
    'aria-label': `Folder actions: ${label}`, title: 'Rename or delete this folder',
    onclick: (e) => { e.preventDefault(); e.stopPropagation(); if (document.getElementById('foldermenu')) closeMenu(); else folderMenu(f, label, e.currentTarget); },
  }, '\u22EF');
  return btn;
}

// "New folder" under the tree; a POP3 account's folder is kept on this
// computer, which its note (#pop3-note) says.
export function newFolderButton() {
  const pop3 = isPop3();
  return h('button', {
    type: 'button', class: 'btn ghost small newfolder', id: 'newfolder-btn',
    'aria-describedby': pop3 ? 'pop3-note' : null,
    title: pop3 ? 'Make a folder kept on this computer (POP3 keeps one folder on the server)' : 'Make a folder on the server',
    onclick: (e) => newFolder(e.currentTarget),
  }, '+ New folder');
}

// True while a folder menu or dialog is open (the page's shortcuts wait).
export function folderUiOpen() { return !!(document.getElementById('foldermenu') || document.getElementById('folder-dialog')); }
