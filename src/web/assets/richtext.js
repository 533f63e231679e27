// SPDX-License-Identifier: MIT
// The rich-text editor of compose: a contenteditable area with bold,
// italic, link, bulleted and numbered lists and quote, and a toggle back to
// plain text. What it makes is only a proposal: the server sanitises the
// HTML as the reader would show it before anything is sent, and makes the
// text part from what it kept. The signature block (the identity's) is one
// element of the editor, so that choosing another identity swaps it.
import { h, mount } from './ui.js';

function esc(s) {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[ch]));
}

// Plain text as editor HTML: lines kept, "> " quotes as a blockquote.
function textToHtml(text) {
  const out = [];
  let quote = [];
  const flush = () => { if (quote.length) { out.push(`<blockquote>${quote.map(esc).join('<br>')}</blockquote>`); quote = []; } };
  for (const line of text.split('\n')) {
    if (/^> ?/.test(line)) { quote.push(line.replace(/^> ?/, '')); continue; }
    flush();
    out.push(line ? `<div>${esc(line)}</div>` : '<div><br></div>');
  }
  flush();
  return out.join('');
}

// textarea: the plain body (kept, shown in plain mode). Returns the editor.
export function richEditor(textarea) {
  const area = h('div', { class: 'rich', contenteditable: 'true', role: 'textbox', 'aria-multiline': 'true', 'aria-label': 'Message (rich text)', id: 'rich-body', hidden: true });
  const url = h('input', { type: 'url', placeholder: 'https://', 'aria-label': 'Link address', maxlength: '2000', hidden: true });
  const cmd = (name, arg) => { area.focus(); document.execCommand(name, false, arg); };
  const btn = (label, title, fn) => h('button', { type: 'button', class: 'btn small', title, 'aria-label': title, onmousedown: (e) => e.preventDefault(), onclick: fn }, label);
  let saved = null; // the selection a link goes on
  const linkBtn = btn('Link', 'Link', () => {
    const sel = window.getSelection();
    saved = sel.rangeCount ? sel.getRangeAt(0).cloneRange() : null;
    url.hidden = false; url.value = ''; url.focus();
  });
  url.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    const v = url.value.trim();
    url.hidden = true;
    area.focus();
    if (saved) { const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(saved); }
    // only links the reader keeps: http(s) and mailto
    if (!/^(https?:\/\/|mailto:)/i.test(v)) return;
    // no text chosen: the address becomes the link's text
    if (!saved || saved.collapsed) document.execCommand('insertHTML', false, `<a href="${esc(v)}">${esc(v)}</a>&nbsp;`);
    else document.execCommand('createLink', false, v);
  });
  const tools = h('div', { class: 'rich-tools', role: 'toolbar', 'aria-label': 'Formatting', hidden: true },
    btn(h('b', {}, 'B'), 'Bold', () => cmd('bold')), btn(h('i', {}, 'I'), 'Italic', () => cmd('italic')), linkBtn, url,
    btn('• List', 'Bulleted list', () => cmd('insertUnorderedList')), btn('1. List', 'Numbered list', () => cmd('insertOrderedList')),
    btn('❝ Quote', 'Quote', () => cmd('formatBlock', 'blockquote')));
  const toggle = h('input', { type: 'checkbox', id: 'rich-toggle' });
  const ed = {
    rich: false,
    sig: '',
    el: h('div', { class: 'rich-editor' }, h('label', { class: 'rich-switch' }, toggle, ' Rich text'), tools, area),
    // the body as it will be sent: { text } or { html }
    // the body as text (a draft keeps text)
    text() { return ed.rich ? area.innerText : textarea.value; },
    value() { return ed.rich ? { html: area.innerHTML, text: '' } : { text: textarea.value }; },
    setRich(on) {
      if (on === ed.rich) return;
      ed.rich = on;
      toggle.checked = on;
      if (on) {
        const sb = ed.sig ? `-- \n${ed.sig}` : '';
        let text = textarea.value;
        let sigHtml = '';
        if (sb && text.includes(sb)) { text = text.replace(sb, '\u0000'); sigHtml = `<div class="sig">${textToHtml(sb)}</div>`; }
        const parts = text.split('\u0000');
        area.innerHTML = textToHtml(parts[0]) + sigHtml + (parts.length > 1 ? textToHtml(parts[1]) : '');
      } else {
        textarea.value = area.innerText.replace(/\n{3,}/g, '\n\n');
      }
      area.hidden = !on; tools.hidden = !on; textarea.hidden = on;
    },
    // Puts the signature sig in place of the one there (at the end, or
    // above a quote when before is given: the text that starts it).
    setSignature(sig, before) {
      const old = ed.sig ? `-- \n${ed.sig}` : '';
      const nb = sig ? `-- \n${sig}` : '';
      ed.sig = sig;
      if (ed.rich) {
        const el = area.querySelector('.sig');
        if (el && !nb) el.remove();
        else if (el) el.innerHTML = textToHtml(nb);
        else if (nb) area.insertAdjacentHTML('beforeend', `<div class="sig">${textToHtml(nb)}</div>`);
        return;
      }
      let t = textarea.value;
      if (old && t.includes(old)) { textarea.value = t.replace(old, nb); return; }
      if (!nb) return;
      const at = before && t.indexOf(before) >= 0 ? t.indexOf(before) : t.length;
      const head = t.slice(0, at);
      textarea.value = `${head}${head && !head.endsWith('\n') ? '\n' : ''}${nb}\n${t.slice(at)}`;
    },
  };
  toggle.addEventListener('change', () => ed.setRich(toggle.checked));
  return ed;
}
