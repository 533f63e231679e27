// SPDX-License-Identifier: MIT
// The key manager dashboard: pool fill, key rate, QBER over time as an SVG
// chart drawn here, and the eavesdropping alarm, refreshed every 3 s.
import { h, mount, fmtBytes, fmtRate } from './ui.js';
import { api } from './api.js';
import { pollKme, state } from './app.js';

const SVGNS = 'http://www.w3.org/2000/svg';
const QBER_ALARM = 0.11; // BB84 intercept-resend shows ~25%; 11% is the usual security bound

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of kids) el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

// A line chart of history[].qber (0..1) against time.
export function qberChart(history) {
  const W = 640, H = 220, L = 48, R = 12, T = 12, B = 28;
  const pts = history.filter((p) => p.qber >= 0);
  const maxQ = Math.max(0.15, ...pts.map((p) => p.qber)) * 1.1;
  const t0 = pts.length ? pts[0].t : 0, t1 = pts.length ? pts[pts.length - 1].t : 1;
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const y = (q) => T + (1 - q / maxQ) * (H - T - B);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-labelledby': 'qber-title qber-desc' },
    s('title', { id: 'qber-title' }, 'Quantum bit error rate over time'),
    s('desc', { id: 'qber-desc' }, pts.length ? `${pts.length} samples; latest ${(100 * pts[pts.length - 1].qber).toFixed(2)}%; alarm threshold ${(100 * QBER_ALARM).toFixed(0)}%.` : 'No samples yet.'));
  for (let i = 0; i <= 4; i++) {
    const q = (maxQ * i) / 4;
    svg.appendChild(s('line', { x1: L, x2: W - R, y1: y(q), y2: y(q), class: 'grid' }));
    svg.appendChild(s('text', { x: L - 6, y: y(q) + 4, class: 'axis', 'text-anchor': 'end' }, `${(100 * q).toFixed(1)}%`));
  }
  svg.appendChild(s('line', { x1: L, x2: W - R, y1: y(QBER_ALARM), y2: y(QBER_ALARM), class: 'threshold' }));
  svg.appendChild(s('text', { x: W - R, y: y(QBER_ALARM) - 4, class: 'axis threshold-label', 'text-anchor': 'end' }, 'alarm threshold'));
  if (pts.length > 1) {
    svg.appendChild(s('polyline', { points: pts.map((p) => `${x(p.t).toFixed(1)},${y(p.qber).toFixed(1)}`).join(' '), class: 'qber-line' }));
  }
  pts.forEach((p) => svg.appendChild(s('circle', { cx: x(p.t).toFixed(1), cy: y(p.qber).toFixed(1), r: 3, class: p.alarm ? 'dot alarm' : 'dot' })));
  if (pts.length) {
    svg.appendChild(s('text', { x: L, y: H - 6, class: 'axis' }, new Date(t0 * 1000).toLocaleTimeString()));
    svg.appendChild(s('text', { x: W - R, y: H - 6, class: 'axis', 'text-anchor': 'end' }, new Date(t1 * 1000).toLocaleTimeString()));
  }
  return svg;
}

function stat(label, value, extra) {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value), extra || null);
}

async function render(root) {
  const k = await pollKme();
  if (!document.body.contains(root)) return false;
  if (!k) { mount(root, h('h1', {}, 'Key manager'), h('p', { class: 'error', role: 'alert' }, state.account ? 'The key manager status could not be read.' : 'Add an account first.')); return true; }
  const fill = k.max_key_count ? k.stored_key_count / k.max_key_count : 0;
  mount(root, h('div', { class: 'kme' },
    h('h1', {}, 'Key manager'),
    h('p', { class: 'muted' }, `${k.url || 'no KME configured'}${k.peer_sae ? ` — link to ${k.peer_sae}` : ''}`),
    k.alarm ? h('div', { class: 'alarm-box', role: 'alert' }, h('strong', {}, 'Eavesdropping detected. '),
      `The quantum link's error rate is ${(100 * k.qber).toFixed(1)}%, above the ${(100 * QBER_ALARM).toFixed(0)}% a secure link stays under. Someone may be measuring the photons. The link produces no key until the rate falls again; levels 1 and 2 wait, levels 3 and 4 still work.`) : null,
    !k.reachable ? h('div', { class: 'card error', role: 'alert' }, `KME unreachable: ${k.message}`) : null,
    h('div', { class: 'stats' },
      stat('Key pool', `${k.stored_key_count} / ${k.max_key_count} keys`, h('meter', { min: '0', max: '1', value: String(fill), low: '0.2', optimum: '1', 'aria-label': 'Key pool fill' })),
      stat('Key material', fmtBytes(k.pool_bytes), h('small', { class: 'muted' }, `${k.key_size} bits a key`)),
      stat('Key rate', k.key_rate_bps >= 0 ? fmtRate(k.key_rate_bps / 8) : 'not reported'),
      stat('QBER', k.qber >= 0 ? `${(100 * k.qber).toFixed(2)}%` : 'not reported', h('span', { class: k.alarm ? 'state state-failed' : 'state state-sent' }, k.alarm ? 'ALARM' : 'secure'))),
    h('section', { class: 'card' }, h('h2', {}, 'QBER over time'), qberChart(k.history || [])),
    await networkCard()));
  return true;
}

// The QKD network around the account's KME (issue 19): KMEs on a circle,
// each link coloured by its state, a table of the links for screen
// readers, and the way each contact's keys take (the trusted nodes on it).
export function networkGraph(net) {
  const W = 640, H = 300, cx = W / 2, cy = H / 2, rad = Math.min(W, H) / 2 - 40;
  const ids = net.kmes || [];
  const pos = new Map(ids.map((id, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, ids.length);
    return [id, { x: cx + rad * Math.cos(a), y: cy + rad * Math.sin(a) }];
  }));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'network', role: 'img', 'aria-labelledby': 'net-title net-desc' },
    s('title', { id: 'net-title' }, 'QKD network'),
    s('desc', { id: 'net-desc' }, `${ids.length} key managers and ${(net.links || []).length} links; the table below lists them.`));
  for (const l of net.links || []) {
    const a = pos.get(l.a), b = pos.get(l.b);
    if (!a || !b) continue;
    const cls = l.alarm ? 'net-link alarm' : l.up ? 'net-link up' : 'net-link down';
    const line = s('line', { x1: a.x.toFixed(1), y1: a.y.toFixed(1), x2: b.x.toFixed(1), y2: b.y.toFixed(1), class: cls, 'data-link': `${l.a}-${l.b}` },
      s('title', {}, `${l.a} – ${l.b}: ${l.alarm ? 'QBER alarm' : l.state}`));
    svg.appendChild(line);
  }
  for (const id of ids) {
    const p = pos.get(id);
    const own = id === net.kme_id;
    svg.appendChild(s('circle', { cx: p.x.toFixed(1), cy: p.y.toFixed(1), r: own ? 14 : 11, class: own ? 'net-node own' : 'net-node' }));
    svg.appendChild(s('text', { x: p.x.toFixed(1), y: (p.y + (p.y < cy ? -20 : 30)).toFixed(1), class: 'axis', 'text-anchor': 'middle' }, own ? `${id} (yours)` : id));
  }
  return svg;
}

function linkState(l) {
  if (l.alarm) return h('span', { class: 'state state-failed' }, 'ALARM');
  return h('span', { class: l.up ? 'state state-sent' : 'state state-queued' }, l.up ? 'up' : l.state);
}

async function networkCard() {
  let net;
  try {
    net = await api.get(`/api/kme/network${state.account ? `?account=${state.account}` : ''}`);
  } catch (e) {
    return h('section', { class: 'card', id: 'kme-network' }, h('h2', {}, 'Network'), h('p', { class: 'error' }, `The network could not be read: ${e.message}`));
  }
  if (!net.supported) {
    return h('section', { class: 'card', id: 'kme-network' }, h('h2', {}, 'Network'), h('p', { class: 'muted' }, net.message));
  }
  const routes = (net.contacts || []).map((c) => h('li', {},
    h('strong', {}, c.address), ': ',
    c.route ? (c.relayed && c.route.length > 1
      ? `${c.route.join(' → ')} — ${c.trusted_nodes} trusted node${c.trusted_nodes === 1 ? '' : 's'} on the way see${c.trusted_nodes === 1 ? 's' : ''} the keys`
      : 'a direct link, no trusted node')
      : h('span', { class: 'error' }, /^no route/.test(c.error) ? c.error : `no route: ${c.error}`)));
  return h('section', { class: 'card', id: 'kme-network' },
    h('h2', {}, 'Network'),
    h('p', { class: 'muted' }, 'Keys for a contact whose key manager has no link to yours are relayed by the key managers in between. Each of them is a trusted node: it sees the keys.'),
    networkGraph(net),
    h('table', { class: 'net-links' },
      h('caption', {}, 'Links'),
      h('thead', {}, h('tr', {}, ...['Link', 'State', 'QBER', 'Key rate', 'Key held'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...(net.links || []).map((l) => h('tr', { 'data-link': `${l.a}-${l.b}` },
        h('td', {}, `${l.a} – ${l.b}`), h('td', {}, linkState(l)), h('td', {}, `${(100 * l.qber).toFixed(2)}%`),
        h('td', {}, fmtRate(l.rate_bps / 8)), h('td', {}, `${fmtBytes(l.avail_ab)} / ${fmtBytes(l.avail_ba)}`))))),
    h('h3', {}, 'Routes to your contacts'),
    routes.length ? h('ul', { class: 'net-routes' }, ...routes) : h('p', { class: 'muted' }, 'No contact with an SAE ID yet.'));
}

export async function showKme(root) {
  const box = h('div', {});
  mount(root, box);
  await render(box);
  const t = setInterval(async () => { if (!(await render(box))) clearInterval(t); }, 3000);
}
