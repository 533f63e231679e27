// SPDX-License-Identifier: MIT
//
// The user's browser at the test authorization server (tests/oauth/idp.mjs),
// without a browser: follows redirects with its cookies, fills in the
// sign-in form with the user's password, presses Allow (or Deny), and at
// the end opens the redirect to the client's loopback listener
// (http://127.0.0.1:PORT/...) and prints that page's status and body.
//
//   node robot.mjs --ca CA_FILE [--password PW] [--deny] AUTH_URL USER
//   node robot.mjs --ca CA_FILE [--password PW] [--deny] \
//        --device VERIFICATION_URI USER_CODE USER
//
// USER is alice, bob or carol (or the address); the password defaults to
// the user's in tests/lib/mailserver.c. Prints "redirect-status N" and the
// body (code flow) or "device-signed-in" / "device-denied"; exits 0 when
// every step went as asked, 1 with "robot: ..." on stderr otherwise (the
// sign-in was refused, a page was not the expected one).

import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

const PASSWORDS = { alice: 'alice-Pw-7341', bob: 'bob-Pw-1188', carol: 'carol-Pw-5520' };

function fail(msg) {
  process.stderr.write(`robot: ${msg}\n`);
  process.exit(1);
}

const args = [];
const opt = { deny: false };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--ca') opt.ca = process.argv[++i];
  else if (a === '--password') opt.password = process.argv[++i];
  else if (a === '--deny') opt.deny = true;
  else if (a === '--device') opt.device = true;
  else if (a.startsWith('--')) fail(`unknown option ${a}`);
  else args.push(a);
}
if (!opt.ca || args.length !== (opt.device ? 3 : 2)) {
  fail('usage: robot.mjs --ca CA [--password PW] [--deny] (AUTH_URL USER | --device URI USER_CODE USER)');
}
const user = args[args.length - 1];
const password = opt.password ?? PASSWORDS[user.replace(/@.*/, '')];
if (password === undefined) fail(`no password known for ${user}`);
const ca = readFileSync(opt.ca);

// ---------------------------------------------------------------- HTTP

const jar = new Map(); // "name\0path" -> {name, value, path, origin}

function keepCookies(url, headers) {
  for (const line of headers['set-cookie'] || []) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = '/';
    let gone = value === '';
    for (const a of attrs) {
      const [k, v = ''] = a.split('=');
      const key = k.trim().toLowerCase();
      if (key === 'path') path = v.trim();
      if (key === 'expires' && Date.parse(v) < Date.now()) gone = true;
      if (key === 'max-age' && Number(v) <= 0) gone = true;
    }
    const k = `${name}\0${path}`;
    if (gone) jar.delete(k);
    else jar.set(k, { name, value, path, origin: url.origin });
  }
}

function cookieHeader(url) {
  return [...jar.values()]
    .filter((c) => c.origin === url.origin && url.pathname.startsWith(c.path))
    .map((c) => `${c.name}=${c.value}`).join('; ');
}

function request(url, method = 'GET', form = null) {
  const body = form ? new URLSearchParams(form).toString() : null;
  const lib = url.protocol === 'https:' ? https : http;
  const headers = { accept: 'text/html' };
  const cookies = cookieHeader(url);
  if (cookies) headers.cookie = cookies;
  if (body !== null) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers['content-length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method, headers, ca, timeout: 20000 }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => {
        keepCookies(url, res.headers);
        resolve({ status: res.statusCode, headers: res.headers, body: data });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} in 20 s`)));
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}

// ---------------------------------------------------------------- pages

function attr(tag, name) {
  const m = new RegExp(`\\b${name}="([^"]*)"`).exec(tag);
  return m ? m[1].replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&') : undefined;
}

// The page's forms: id, action, method and hidden inputs.
function forms(html) {
  const out = new Map();
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    const hidden = {};
    for (const i of m[2].matchAll(/<input\b[^>]*>/g)) {
      if (attr(i[0], 'type') === 'hidden') hidden[attr(i[0], 'name')] = attr(i[0], 'value') ?? '';
    }
    out.set(attr(m[1], 'id'), { action: attr(m[1], 'action'), method: (attr(m[1], 'method') || 'get').toUpperCase(), hidden });
  }
  return out;
}

function pageError(html) {
  const errs = [...html.matchAll(/<p class="error"[^>]*>([^<]*)<\/p>/g)].map((m) => m[1]);
  return errs.length ? errs.join('; ') : null;
}

// ---------------------------------------------------------------- the walk

const first = new URL(args[0]);
const idp = first.origin;
let url = first;
let method = 'GET';
let form = null;
let step = 0;
let loggedIn = false;

for (;;) {
  if (++step > 30) fail('more than 30 pages: a redirect loop?');
  let res;
  try {
    res = await request(url, method, form);
  } catch (e) {
    fail(`${method} ${url.origin}${url.pathname}: ${e.message}`);
  }
  if (url.origin !== idp) {
    // the redirect back to the client's loopback listener
    process.stdout.write(`redirect-status ${res.status}\n${res.body}\n`);
    process.exit(0);
  }
  if (res.status >= 300 && res.status < 400) {
    const to = res.headers.location;
    if (!to) fail(`${res.status} without Location from ${url.pathname}`);
    url = new URL(to, url);
    if (url.origin !== idp && !(url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))) {
      fail(`redirected away to ${url.origin}, not a loopback listener`);
    }
    if (res.status !== 307 && res.status !== 308) {
      method = 'GET';
      form = null;
    }
    continue;
  }
  if (res.status !== 200) fail(`${url.pathname} answered ${res.status}: ${pageError(res.body) || res.body.slice(0, 300)}`);
  const f = forms(res.body);
  const submit = (id, fields) => {
    const fm = f.get(id);
    url = new URL(fm.action || url.href, url);
    method = fm.method;
    form = { ...fm.hidden, ...fields };
  };
  if (res.body.includes('id="device-success"')) {
    process.stdout.write('device-signed-in\n');
    process.exit(0);
  }
  if (f.has('login')) {
    if (loggedIn) fail(`sign-in as ${user} refused: ${pageError(res.body) || 'the form came back'}`);
    loggedIn = true;
    submit('login', { login: user, password });
  } else if (f.has('consent')) {
    if (opt.deny) submit('abort', { deny: 'yes' });
    else submit('consent', { allow: 'yes' });
  } else if (opt.device && opt.deny && res.body.includes('id="device-aborted"')) {
    process.stdout.write('device-denied\n');
    process.exit(0);
  } else if (f.has('op.deviceInputForm')) {
    if (form && form.user_code) fail(`user code ${args[1]} refused: ${pageError(res.body) || 'the form came back'}`);
    submit('op.deviceInputForm', { user_code: args[1] });
  } else if (f.has('op.deviceConfirmForm')) {
    submit('op.deviceConfirmForm', opt.deny ? { abort: 'yes' } : {});
  } else {
    fail(`unexpected page at ${url.pathname}: ${pageError(res.body) || res.body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
  }
}
