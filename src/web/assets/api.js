// SPDX-License-Identifier: MIT
// The JSON API client of the page: every call sends the session cookie
// (same origin) and, for changes, the CSRF token; errors become ApiError
// with the server's message, followed by the page's own words for its
// hint (what to do, in terms of this page's screens).

let csrf = '';

// The page's words for the client engine's hints (the "hint" and
// "hint_arg" of an error or of a level, docs/WEB.md).
const HINTS = {
  vault_locked: () => 'Unlock QMail first.',
  no_account: () => 'Add an account first.',
  account_kme: (a) => `Open Settings > Accounts and set the key manager (KME) and the SAE ID of ${a || 'the account'}.`,
  contact_sae_missing: (a) => `Open Settings > Contacts and enter the SAE ID of ${a || 'the contact'}.`,
  contact_sae_unconfirmed: (a) => `Open Settings > Contacts and save ${a || 'the contact'} to confirm its SAE ID.`,
  key_missing: (a) => `Open Keyring and import the public key ${a || 'the contact'} sent you.`,
  key_changed: (a) => `Open Keyring, compare the fingerprint with ${a || 'the contact'}, then verify the new key.`,
  limit_reached: (a) => `Open Settings > Limits to raise ${a || 'the limit'}.`,
  limit_unknown: () => 'Settings > Limits lists them.',
  setting_unknown: () => 'Settings lists them.',
  plain: (a) => `Compose names ${a || 'them'} and offers to send to ${a && a.includes(',') ? 'them' : 'this address'} unencrypted, as ordinary email; or import their public key in Keyring.`,
};

// What the page says to do for hint about arg; '' when nothing.
export function hintText(hint, arg) {
  const f = hint && Object.prototype.hasOwnProperty.call(HINTS, hint) ? HINTS[hint] : null;
  return f ? f(arg) : '';
}

export class ApiError extends Error {
  constructor(status, code, message, hint, hintArg, extra) {
    const said = hintText(hint, hintArg);
    super(said ? `${message} ${said}` : message);
    this.status = status;
    this.code = code;
    // the field a refusal concerns (to, cc, subject ...) and, for a
    // back-off, the seconds to wait
    this.field = (extra && extra.field) || '';
    this.retryAfter = (extra && extra.retry_after) || 0;
    this.hint = hint || '';
    this.hintArg = hintArg || '';
    // a chat send refused by the conversation's level rule: the level
    // asked for and the conversation's (docs/WEB.md "Chats")
    this.asked = (extra && extra.asked) || 0;
    this.chatLevel = (extra && extra.chat_level) || 0;
  }
}

export function setCsrf(token) { csrf = token || ''; }

async function call(method, path, body, background) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  // polling does not keep an idle session alive
  if (background) opts.headers['X-QM-Background'] = '1';
  if (method !== 'GET') {
    opts.headers['X-CSRF-Token'] = csrf;
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body === undefined ? {} : body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw new ApiError(0, 'network', 'QMail is not answering. Is `qmail web` still running?');
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const err = data && data.error ? data.error : { code: 'http', message: `The server answered ${res.status}.` };
    if (res.status === 401) window.dispatchEvent(new CustomEvent('qm-locked'));
    throw new ApiError(res.status, err.code, err.message, err.hint, err.hint_arg, err);
  }
  return data;
}

export const api = {
  get: (p) => call('GET', p),
  poll: (p) => call('GET', p, undefined, true),
  post: (p, b) => call('POST', p, b),
  put: (p, b) => call('PUT', p, b),
  del: (p) => call('DELETE', p),
};

// Query string from an object, skipping empty values.
export function qs(o) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

// Uploads one file with progress (XHR: fetch has no upload progress).
export function upload(file, onProgress) {
  return uploadTo('/api/uploads', file, onProgress, 201);
}

// Sends one file as the raw body of a POST to path (an import); resolves
// with the JSON answer when the status is ok (a number, or any 2xx).
export function uploadTo(path, file, onProgress, ok) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', path);
    x.setRequestHeader('X-CSRF-Token', csrf);
    x.setRequestHeader('Content-Type', 'application/octet-stream');
    x.setRequestHeader('X-Filename', encodeURIComponent(file.name));
    x.upload.onprogress = (e) => { if (onProgress && e.lengthComputable) onProgress(e.loaded / e.total); };
    x.onload = () => {
      let d = null;
      try { d = JSON.parse(x.responseText); } catch (e) { d = null; }
      if ((ok ? x.status === ok : x.status >= 200 && x.status < 300) && d) resolve(d);
      else reject(new ApiError(x.status, d && d.error ? d.error.code : 'http',
        d && d.error ? d.error.message : `Upload failed (${x.status}).`));
    };
    x.onerror = () => reject(new ApiError(0, 'network', 'The upload was interrupted.'));
    x.send(file);
  });
}
