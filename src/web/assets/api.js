// SPDX-License-Identifier: MIT
// The JSON API client of the page: every call sends the session cookie
// (same origin) and, for changes, the CSRF token; errors become ApiError
// with the server's message, which the page shows as is.

let csrf = '';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
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
    throw new ApiError(res.status, err.code, err.message);
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
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', '/api/uploads');
    x.setRequestHeader('X-CSRF-Token', csrf);
    x.setRequestHeader('Content-Type', 'application/octet-stream');
    x.setRequestHeader('X-Filename', encodeURIComponent(file.name));
    x.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    x.onload = () => {
      let d = null;
      try { d = JSON.parse(x.responseText); } catch (e) { d = null; }
      if (x.status === 201 && d) resolve(d);
      else reject(new ApiError(x.status, d && d.error ? d.error.code : 'http',
        d && d.error ? d.error.message : `Upload failed (${x.status}).`));
    };
    x.onerror = () => reject(new ApiError(0, 'network', 'The upload was interrupted.'));
    x.send(file);
  });
}
