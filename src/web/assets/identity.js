// SPDX-License-Identifier: MIT
// Identities: the From addresses of an account, each with a display name
// and a plain-text signature, one the default (the engine's identities,
// the same as `qmail identity`). The account settings list and edit them;
// compose asks for them to offer a From choice and put the signature in.
import { api, qs } from './api.js';
import { h, mount, toast, field } from './ui.js';

export async function loadIdentities(account) {
  try {
    return (await api.get(`/api/identities${qs({ account })}`)).identities || [];
  } catch (e) { return []; }
}

// The signature block that ends a text body ("-- " line, then the
// signature), or "" for none.
export function sigBlock(sig) {
  return sig ? `-- \n${sig}` : '';
}

// The Identities box of account a in the settings: one row per identity
// (name, signature, default, remove) and a row to add one.
export function identitiesBox(a) {
  const box = h('fieldset', { class: 'identities', dataset: { identities: a.address } }, h('legend', {}, 'Identities'));
  const save = async (addr, body, what) => {
    try { await api.put(`/api/identities/${encodeURIComponent(addr)}${qs({ account: a.id })}`, body); toast(what); render(); } catch (e) { toast(e.message, 'error'); }
  };
  async function render() {
    const ids = await loadIdentities(a.id);
    const rows = ids.map((i) => {
      const name = h('input', { type: 'text', value: i.name, maxlength: '255', 'aria-label': `Name shown for ${i.address}` });
      const sig = h('textarea', { rows: '3', maxlength: '2047', 'aria-label': `Signature of ${i.address}` }, i.signature);
      return h('div', { class: 'identity', dataset: { identity: i.address } },
        h('p', {}, h('strong', {}, i.address), i.default ? ' (default)' : '', i.own ? h('span', { class: 'muted' }, ' the account\'s own address') : ''),
        field('Name', name), field('Signature', sig, 'Plain text, put under your message after a "-- " line.'),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn small', onclick: () => save(i.address, { name: name.value, signature: sig.value }, 'Identity saved') }, 'Save identity'),
          i.default ? null : h('button', { type: 'button', class: 'btn small', onclick: () => save(i.address, { default: true }, `${i.address} is the default`) }, 'Make default'),
          i.own ? null : h('button', { type: 'button', class: 'btn small danger', onclick: async () => {
            try { await api.del(`/api/identities/${encodeURIComponent(i.address)}${qs({ account: a.id })}`); toast('Identity removed'); render(); } catch (e) { toast(e.message, 'error'); }
          } }, 'Remove')));
    });
    const addr = h('input', { type: 'email', maxlength: '320', 'aria-label': 'New identity address', placeholder: 'alias@example.org' });
    const name = h('input', { type: 'text', maxlength: '255', 'aria-label': 'New identity name', placeholder: 'Name' });
    mount(box, h('legend', {}, 'Identities'),
      h('p', { class: 'muted' }, 'Addresses you send from with this account. Mail from any of them is encrypted and signed with this account\'s keys; your mail server must accept the address as a sender. A reply goes from the address the message was sent to.'),
      rows,
      h('div', { class: 'inline' }, addr, name, h('button', { type: 'button', class: 'btn small', onclick: () => save(addr.value.trim(), { name: name.value }, 'Identity added') }, 'Add identity')));
  }
  render();
  return box;
}
