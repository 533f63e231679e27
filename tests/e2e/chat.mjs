// SPDX-License-Identifier: MIT
// Browser test of the Chats view (issue 20, docs/WEB.md "Chats"): alice
// and bob, each in their own web GUI over the real mail servers and KMEs
// of webenv, chat at level 2. Alice starts the conversation with the
// new-chat form; bob's page, open on Chats, shows it without a reload
// (IMAP IDLE, the sync files it as chat, the events feed) with an unread
// count in the sidebar and on the row; opening it marks it read; his
// answer, sent with Enter, comes to alice's page the same way; Shift+Enter
// is a new line; a weaker level (3) is refused with the engine's words
// and nothing is sent until alice changes the conversation's level with
// the button the refusal offers, then it goes at level 3. Delivery ticks
// say "Sent" once the mail server took a message. Nothing wider than the
// screen at 1280 and 360 px, axe-core finds no serious or critical
// violation (light and dark); the keyboard alone opens a conversation and
// sends. Then a group: alice removes carol in the members panel and adds
// her back; each change is a line at alice's and at bob's. Screenshots:
// docs/screenshots/chat.png (1280 px, alice), chat-360.png (360 px, bob),
// chat-refused.png (the refusal) and chat-members.png (the group's
// members panel and its changes).
// Media and read state: bob turns on "Send read receipts"; alice attaches
// a PNG and a text file with the attach button: the image is shown in
// both bubbles (served by the API, same origin, the bytes alice sent),
// the file as a link to save; alice's bubble shows one tick (sent), then
// two ("Read") once bob's page read it. "Notify me" with "Hide content":
// a chat message coming while alice's page is hidden makes a desktop
// notification without its text; with "Hide content" off, with it.
// Screenshot: chat-media.png.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { T, check, log, Env, watch, launch, fits, apiCall, unlock, shot } from './lib.mjs';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

async function axe(page, where) {
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(AXE);
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
  check(r.length === 0, `accessibility violations on ${where}:\n  ${r.join('\n  ')}`);
}

// A small PNG (w x h, RGB): a sky, a sun and a hill, to look at.
function makePng(w, h) {
  const crcT = Array.from({ length: 256 }, (_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
  const crc = (b) => { let c = 0xffffffff; for (const x of b) c = crcT[(c ^ x) & 255] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      let r = 90 + (y * 100) / h, g = 150 + (y * 60) / h, b = 230;
      if ((x - w * 0.72) ** 2 + (y - h * 0.3) ** 2 < (h * 0.14) ** 2) { r = 255; g = 205; b = 60; }
      if (y > h * 0.62 + 18 * Math.sin(x / 30)) { r = 60; g = 150; b = 80; }
      raw[o] = r; raw[o + 1] = g; raw[o + 2] = b;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

// The bytes at url as the page fetches them (its session), hex.
const fetchHex = (page, url) => page.evaluate(async (u) => {
  const r = await fetch(u, { credentials: 'same-origin' });
  const b = new Uint8Array(await r.arrayBuffer());
  return { status: r.status, type: r.headers.get('content-type'), csp: r.headers.get('content-security-policy'), hex: Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('') };
}, url);

// The sidebar's unread count of Chats ('' when none).
const sideCount = (page) => page.evaluate(() => document.querySelector('#chats-link .count')?.textContent || '');

// The conversations as the API lists them for the page's account.
async function chats(page) {
  const r = await apiCall(page, 'GET', '/api/chats');
  check(r.status === 200, `GET /api/chats: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

async function main() {
  const env = new Env();
  let browser;
  const errors = [];
  const profile = mkdtempSync(join(tmpdir(), 'qm-chromium-'));
  let A = null, B = null;
  try {
    const first = await env.next();
    check(first, 'webenv exited before it was ready');
    const w = JSON.parse(first);
    if (w.skip) { log('skip:', w.skip); process.exitCode = 77; return; }
    browser = await launch(profile);
    A = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    B = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    watch(A, 'alice', w.alice, errors);
    watch(B, 'bob', w.bob, errors);
    await unlock(A, w.alice, w.passphrase);
    await unlock(B, w.bob, w.passphrase);
    // webenv starts bob with background checking (and so IDLE) off
    const st = await apiCall(B, 'PUT', '/api/settings', { background_sync_s: 300 });
    check(st.status === 200, `bob's background checking: ${st.status} ${JSON.stringify(st.json)}`);

    // ---- both on Chats, nothing there yet
    for (const p of [A, B]) {
      await p.getByRole('link', { name: 'Chats', exact: true }).click();
      await p.getByRole('heading', { name: 'Chats', exact: true }).waitFor({ timeout: T });
      await p.getByText('No conversations yet').waitFor({ timeout: T });
    }
    // a mark in bob's page: it must still be there when the chat shows
    // (shown without a reload)
    await B.evaluate(() => { window.qmNoReload = 1; });

    // ---- alice starts a level-2 conversation with the form
    await A.getByRole('link', { name: 'New chat' }).click();
    await A.getByLabel('With').fill(w.bob_addr);
    await A.getByLabel('Level', { exact: true }).selectOption('2');
    await A.getByLabel('First message').fill('Hello Bob, this is a level-2 chat.');
    await A.getByRole('button', { name: 'Start chat' }).click();
    const mine = A.locator('.bubble.mine', { hasText: 'Hello Bob, this is a level-2 chat.' });
    await mine.waitFor({ timeout: T });
    check(/^#\/chats\/\d+$/.test(await A.evaluate(() => location.hash)), 'the new chat did not open its conversation');
    check(await mine.locator('.badge-l2').count() === 1, 'alice\'s bubble has no level-2 badge');
    await A.locator('.chathead .badge-l2').waitFor({ timeout: T });
    // the mail server took it: two ticks (at once, or after an outbox run)
    await mine.getByRole('img', { name: 'Sent', exact: true }).waitFor({ timeout: T });
    const t0 = Date.now();
    log('alice sent at level 2');

    // ---- bob's page shows it without a reload, with unread counts
    const row = B.locator('.chatrow', { hasText: w.alice_addr });
    await row.waitFor({ timeout: 90000 });
    log(`bob's page listed the conversation ${((Date.now() - t0) / 1000).toFixed(1)} s after alice's send`);
    check(await B.evaluate(() => window.qmNoReload === 1), 'bob\'s page was reloaded');
    check(/Hello Bob, this is a level-2 chat\./.test(await row.textContent()), `the row's preview: ${await row.textContent()}`);
    check(await row.locator('.count').textContent() === '1 unread', 'the row does not count 1 unread');
    await B.waitForFunction(() => document.querySelector('#chats-link .count')?.textContent === '1', null, { timeout: T });
    let bl = await chats(B);
    check(bl.unread === 1 && bl.chats.length === 1 && bl.chats[0].level === 2, `bob's API: ${JSON.stringify(bl)}`);
    // in Chats, not in bob's inbox
    const inbox = await apiCall(B, 'GET', '/api/messages?folder=INBOX&limit=200');
    check(!(inbox.json.messages || []).some((m) => /Hello Bob/.test(m.subject)), 'the chat message is listed in bob\'s INBOX');
    // the server's Chats folder is the Chats view's: marked in the API,
    // not among the mail folders of the sidebar
    const bfold = (await apiCall(B, 'GET', '/api/folders')).json.folders || [];
    check(bfold.some((f) => f.name === 'Chats' && f.chats === true) && !bfold.some((f) => f.name !== 'Chats' && f.chats), `bob's folders: ${JSON.stringify(bfold.map((f) => [f.name, f.chats]))}`);
    // the folders read again now that the sync made Chats (as the page
    // does when a conversation is read), then drawn
    await B.evaluate(() => window.dispatchEvent(new CustomEvent('qm-chat-read')));
    await B.waitForTimeout(1500);
    check(await B.locator('#folders a[data-folder="Chats"]').count() === 0, 'the Chats folder is listed among bob\'s mail folders');

    // ---- bob opens it: read, counts gone
    await row.click();
    const theirs = B.locator('.bubble.theirs', { hasText: 'Hello Bob, this is a level-2 chat.' });
    await theirs.waitFor({ timeout: T });
    check(await theirs.locator('.badge-l2').count() === 1, 'bob\'s bubble has no level-2 badge');
    check(await theirs.locator('.ticks').count() === 0, 'a received message shows delivery ticks');
    await B.waitForFunction(() => !document.querySelector('#chats-link .count'), null, { timeout: T });
    bl = await chats(B);
    check(bl.unread === 0, `bob's unread after opening: ${bl.unread}`);

    // ---- alice waits on the list: the reply counts there
    await A.evaluate(() => { location.hash = '#/chats'; });
    await A.locator('.chatrow', { hasText: w.bob_addr }).waitFor({ timeout: T });

    // ---- bob answers with Enter; Shift+Enter is a new line
    const box = B.getByLabel(`Message to ${w.alice_addr}`);
    await box.fill('Hi Alice!');
    await box.press('Shift+Enter');
    await box.pressSequentially('Second line.');
    await box.press('Enter');
    const reply = B.locator('.bubble.mine', { hasText: 'Second line.' });
    await reply.waitFor({ timeout: T });
    check(await reply.locator('.btext').textContent() === 'Hi Alice!\nSecond line.', `bob's reply: ${JSON.stringify(await reply.locator('.btext').textContent())}`);
    check(await box.inputValue() === '', 'the compose box kept the text after sending');
    await reply.getByRole('img', { name: 'Sent', exact: true }).waitFor({ timeout: T });
    const t1 = Date.now();

    // ---- the answer arrives at alice's page: unread 1, then read
    const arow = A.locator('.chatrow', { hasText: w.bob_addr });
    await A.waitForFunction(() => document.querySelector('#chats-link .count')?.textContent === '1', null, { timeout: 90000 });
    log(`alice's page counted the answer ${((Date.now() - t1) / 1000).toFixed(1)} s after bob's send`);
    check(await arow.locator('.count').textContent() === '1 unread', 'alice\'s row does not count 1 unread');
    check(/Hi Alice!/.test(await arow.locator('.chatpreview').textContent()), 'alice\'s row does not preview the answer');
    await arow.click();
    await A.locator('.bubble.theirs', { hasText: 'Second line.' }).waitFor({ timeout: T });
    await A.waitForFunction(() => !document.querySelector('#chats-link .count'), null, { timeout: T });
    const order = await A.locator('.bubble .btext').allTextContents();
    check(order.length === 2 && /Hello Bob/.test(order[0]) && /Hi Alice/.test(order[1]), `alice's conversation in order: ${JSON.stringify(order)}`);

    // ---- a weaker level is refused, with the engine's words
    const abox = A.getByLabel(`Message to ${w.bob_addr}`);
    const before = (await chats(A)).chats[0].count;
    await A.getByLabel('Send at level').selectOption('3');
    await abox.fill('This should go at level 3.');
    await abox.press('Enter');
    const err = A.locator('#chat-error');
    await err.filter({ hasText: 'level 2' }).waitFor({ timeout: T });
    log('refused:', await err.textContent());
    check(/held to level 2/.test(await err.textContent()), `the refusal: ${await err.textContent()}`);
    check((await chats(A)).chats[0].count === before, 'a refused message was added to the conversation');
    check(await A.locator('.bubble', { hasText: 'This should go at level 3.' }).count() === 0, 'a refused message is shown as a bubble');
    check(await abox.inputValue() === 'This should go at level 3.', 'the refused text was not kept in the box');
    await A.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await shot(A, 'chat-refused.png');
    // the explicit change, then the send at level 3
    await A.getByRole('button', { name: 'Change this conversation to level 3' }).click();
    await A.locator('.chathead .badge-l3').waitFor({ timeout: T });
    check((await chats(A)).chats[0].level === 3, 'the conversation\'s level did not change to 3');
    await A.getByLabel(`Message to ${w.bob_addr}`).press('Enter');
    const l3 = A.locator('.bubble.mine', { hasText: 'This should go at level 3.' });
    await l3.waitFor({ timeout: T });
    check(await l3.locator('.badge-l3').count() === 1, 'the level-3 bubble has no level-3 badge');
    await l3.getByRole('img', { name: 'Sent', exact: true }).waitFor({ timeout: T });
    await B.locator('.bubble.theirs', { hasText: 'This should go at level 3.' }).locator('.badge-l3').waitFor({ timeout: 90000 });
    log('level 3 after the change: sent and received');

    // ---- media and read state: bob opts in to read receipts
    await B.getByLabel('Send read receipts').check();
    await B.waitForFunction(async () => {
      const r = await fetch(`/api/chats/${location.hash.split('/')[2]}`, { credentials: 'same-origin' });
      return (await r.json()).chat.receipts === true;
    }, null, { timeout: T });
    // alice attaches an image and a file with the attach button
    const png = makePng(320, 180);
    const note = Buffer.from('Meeting notes: bring the QKD link report.\n');
    await A.locator('#chat-file').setInputFiles([
      { name: 'view.png', mimeType: 'image/png', buffer: png },
      { name: 'notes.txt', mimeType: 'text/plain', buffer: note },
      { name: 'logo.svg', mimeType: 'image/svg+xml', buffer: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>parent.qmSvgRan=1</script><rect width="9" height="9"/></svg>') },
    ]);
    await A.waitForFunction(() => { const l = document.querySelectorAll('#chat-uploads li'); return l.length === 3 && ![...l].some((x) => /%/.test(x.textContent)); }, null, { timeout: T });
    await A.getByLabel(`Message to ${w.bob_addr}`).fill('The view from the lab, and my notes.');
    await A.getByLabel(`Message to ${w.bob_addr}`).press('Enter');
    const media = A.locator('.bubble.mine', { hasText: 'The view from the lab' });
    await media.waitFor({ timeout: T });
    check(await A.locator('#chat-uploads li').count() === 0, 'the sent files stayed in the compose box');
    const aimg = media.locator('img.bimage');
    await aimg.waitFor({ timeout: T });
    await A.waitForFunction(() => { const i = document.querySelector('.bubble.mine img.bimage'); return i && i.complete && i.naturalWidth === 320; }, null, { timeout: T });
    check(await aimg.getAttribute('alt') === 'view.png', 'the image has no alt text');
    const asrc = await aimg.getAttribute('src');
    check(/^\/api\/chats\/files\/\d+\/0$/.test(asrc), `the image is not served by the API (same origin): ${asrc}`);
    const alink = media.locator('a.bfile', { hasText: 'notes.txt' });
    check(await alink.count() === 1, 'the file is not a link to save');
    // one tick: sent (the mail server took it)
    await media.getByRole('img', { name: 'Sent', exact: true }).waitFor({ timeout: T });
    check(await media.locator('.ticks').textContent() === '\u2713', `one tick when sent: ${await media.locator('.ticks').textContent()}`);
    const t2 = Date.now();
    // bob's page (open on the conversation) shows the image, inline
    const bmedia = B.locator('.bubble.theirs', { hasText: 'The view from the lab' });
    await bmedia.waitFor({ timeout: 90000 });
    await B.waitForFunction(() => { const i = document.querySelector('.bubble.theirs img.bimage'); return i && i.complete && i.naturalWidth === 320; }, null, { timeout: T });
    const bsrc = await bmedia.locator('img.bimage').getAttribute('src');
    const got = await fetchHex(B, bsrc);
    check(got.status === 200 && got.type === 'image/png', `bob's image: ${got.status} ${got.type}`);
    check(got.hex === png.toString('hex'), 'bob\'s image is not the bytes alice sent');
    check(/sandbox/.test(got.csp || ''), `the image is served without a sandbox CSP: ${got.csp}`);
    const fhref = await bmedia.locator('a.bfile', { hasText: 'notes.txt' }).getAttribute('href');
    const gotf = await fetchHex(B, fhref);
    check(gotf.status === 200 && gotf.type === 'application/octet-stream', `bob's file: ${gotf.status} ${gotf.type}`);
    check(gotf.hex === note.toString('hex'), 'bob\'s file is not the bytes alice sent');
    // an SVG (it can hold script) is never shown as an image: a file to
    // save, served as bytes
    check(await bmedia.locator('img.bimage').count() === 1, 'more than the PNG shown as an image');
    const shref = await bmedia.locator('a.bfile', { hasText: 'logo.svg' }).getAttribute('href');
    const gots = await fetchHex(B, shref);
    check(gots.status === 200 && gots.type === 'application/octet-stream', `the SVG is served as ${gots.type}`);
    check(!(await B.evaluate(() => window.qmSvgRan)), 'the SVG\'s script ran');
    log(`bob's page showed the image ${((Date.now() - t2) / 1000).toFixed(1)} s after alice's send`);
    // bob read it (his page is open on it): his receipt makes two ticks
    await media.getByRole('img', { name: 'Read', exact: true }).waitFor({ timeout: 90000 });
    check(await media.locator('.ticks').textContent() === '\u2713\u2713', 'two ticks once read');
    log(`alice's page showed "Read" ${((Date.now() - t2) / 1000).toFixed(1)} s after her send`);
    // the receipt is no bubble
    check(await A.locator('.bubble', { hasText: 'Original-Message-ID' }).count() === 0, 'a read receipt is shown as a bubble');
    await A.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await A.evaluate(() => document.activeElement && document.activeElement.blur());
    await A.waitForFunction(() => document.getElementById('sync-progress').hidden, null, { timeout: T });
    await fits(A, 'alice\'s conversation with an image at 1280 px');
    await axe(A, 'alice\'s conversation with an image at 1280 px');
    await shot(A, 'chat-media.png');

    // ---- desktop notifications: asked for with "Notify me" (permission
    // from the click); the page hidden; the browser's Notification seen
    // through a recorder
    await A.context().grantPermissions(['notifications']);
    await A.evaluate(() => {
      window.qmNotes = [];
      const Real = window.Notification;
      class Rec { constructor(title, o) { window.qmNotes.push({ title, body: o && o.body }); } close() {} }
      Rec.requestPermission = () => Real.requestPermission();
      Object.defineProperty(Rec, 'permission', { get: () => Real.permission });
      window.Notification = Rec;
    });
    await A.evaluate(() => { location.hash = '#/chats'; });
    await A.getByLabel('Notify me').check();
    check(await A.evaluate(() => localStorage.getItem('qmail.chat.notify')) === '1', 'Notify me was not kept');
    check(await A.getByLabel('Hide content').isChecked(), '"Hide content" is not the default');
    await A.evaluate(() => Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' }));
    const bbox = B.getByLabel(`Message to ${w.alice_addr}`);
    await bbox.fill('A secret for alice only.');
    await bbox.press('Enter');
    await A.waitForFunction(() => window.qmNotes.length >= 1, null, { timeout: 90000 });
    let notes = await A.evaluate(() => window.qmNotes);
    check(!/secret/.test(JSON.stringify(notes)), `a notification shows the text with "Hide content": ${JSON.stringify(notes)}`);
    log('notification (hide content):', JSON.stringify(notes[0]));
    await A.getByLabel('Hide content').uncheck();
    await A.evaluate(() => { window.qmNotes = []; });
    await bbox.fill('Second secret.');
    await bbox.press('Enter');
    await A.waitForFunction(() => window.qmNotes.length >= 1, null, { timeout: 90000 });
    notes = await A.evaluate(() => window.qmNotes);
    check(/Second secret\./.test(notes[0].body || ''), `the notification without "Hide content": ${JSON.stringify(notes)}`);
    await A.evaluate(() => { delete document.visibilityState; });
    await A.getByLabel('Notify me').uncheck();

    // ---- the keyboard alone: the sidebar's Chats, Tab to the row,
    // Enter opens it with the compose box focused, Enter sends
    await A.evaluate(() => { location.hash = '#/mail/INBOX'; });
    await A.locator('#rows').waitFor({ timeout: T });
    await A.focus('#chats-link');
    await A.keyboard.press('Enter');
    await A.locator('.chatrow').first().waitFor({ timeout: T });
    for (let i = 0; i < 40 && !(await A.evaluate(() => document.activeElement?.classList.contains('chatrow'))); i++) await A.keyboard.press('Tab');
    check(await A.evaluate(() => document.activeElement?.classList.contains('chatrow')), 'Tab never reached the conversation');
    await A.keyboard.press('Enter');
    await A.waitForFunction(() => document.activeElement?.id === 'chat-text', null, { timeout: T });
    await A.keyboard.type('Sent with the keyboard alone.');
    await A.keyboard.press('Enter');
    await A.locator('.bubble.mine', { hasText: 'Sent with the keyboard alone.' }).waitFor({ timeout: T });
    log('keyboard only: opened and sent');

    // ---- widths, accessibility, screenshots
    await A.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await fits(A, 'alice\'s conversation at 1280 px');
    await axe(A, 'alice\'s conversation at 1280 px');
    await A.locator('#chat-text').fill('');
    await A.evaluate(() => document.activeElement && document.activeElement.blur());
    await shot(A, 'chat.png');
    // bob's page once the last message came and no sync runs (the
    // progress bar takes a row of the top bar at 360 px)
    await B.locator('.bubble.theirs', { hasText: 'Sent with the keyboard alone.' }).waitFor({ timeout: 90000 });
    await B.waitForFunction(() => document.getElementById('sync-progress').hidden, null, { timeout: T });
    await B.setViewportSize({ width: 360, height: 740 });
    await B.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await B.locator('.chatpane .back').waitFor({ state: 'visible', timeout: T });
    check(!(await B.locator('.chatlist').isVisible()), 'at 360 px the list shows beside the conversation');
    await fits(B, 'bob\'s conversation at 360 px');
    await axe(B, 'bob\'s conversation at 360 px');
    await B.evaluate(() => document.activeElement && document.activeElement.blur());
    await shot(B, 'chat-360.png');
    await B.locator('.chatpane .back').click();
    await B.locator('.chatrow').first().waitFor({ state: 'visible', timeout: T });
    await fits(B, 'bob\'s chat list at 360 px');
    await axe(B, 'bob\'s chat list at 360 px');
    await B.getByRole('link', { name: 'New chat' }).click();
    await B.getByLabel('With').waitFor({ timeout: T });
    await fits(B, 'the new-chat form at 360 px');
    await axe(B, 'the new-chat form at 360 px');
    // dark mode: the bubbles and badges keep their contrast
    await B.emulateMedia({ colorScheme: 'dark' });
    await B.evaluate(() => { location.hash = '#/chats'; });
    await B.locator('.chatrow').first().click();
    await B.locator('.bubble').first().waitFor({ timeout: T });
    await axe(B, 'bob\'s conversation at 360 px, dark');

    // ---- a group's members (docs/CHAT.md "Groups"): alice starts a
    // group with bob and carol at level 3, removes carol in the members
    // panel (the change is a line of the conversation, at alice's and at
    // bob's), is refused an address that is none, adds carol back
    await A.evaluate(() => { location.hash = '#/chats/new'; });
    await A.getByLabel('With').fill(`${w.bob_addr}, ${w.carol_addr}`);
    await A.getByLabel('Level', { exact: true }).selectOption('3');
    await A.getByLabel('First message').fill('Hello both of you.');
    await A.getByRole('button', { name: 'Start chat' }).click();
    await A.locator('.bubble.mine', { hasText: 'Hello both of you.' }).waitFor({ timeout: T });
    const gA = (await chats(A)).chats.find((c) => c.group);
    check(gA && gA.members.length === 2, `alice's group: ${JSON.stringify(gA)}`);
    const panel = A.locator('#chat-members');
    await panel.locator('summary').click();
    check((await panel.locator('summary').textContent()) === 'Members (3)', `the panel's title: ${await panel.locator('summary').textContent()}`);
    for (const a of ['You', w.bob_addr, w.carol_addr]) check(await panel.locator('.memaddr', { hasText: a }).count() === 1, `the panel does not list ${a}`);
    await panel.getByRole('button', { name: `Remove ${w.carol_addr} from the group` }).click();
    await A.locator('.sysline', { hasText: `You removed ${w.carol_addr}` }).waitFor({ timeout: T });
    await A.locator('#chat-members summary', { hasText: 'Members (2)' }).waitFor({ timeout: T });
    check(await A.locator('#chat-members').evaluate((d) => d.open), 'the members panel closed after the change');
    let g2 = (await apiCall(A, 'GET', `/api/chats/${gA.id}`)).json;
    check(JSON.stringify(g2.chat.members) === JSON.stringify([w.bob_addr]), `alice's members after the removal: ${JSON.stringify(g2.chat.members)}`);
    check(g2.messages.at(-1).kind === 'removed' && g2.messages.at(-1).text === w.carol_addr, `alice's last line: ${JSON.stringify(g2.messages.at(-1))}`);
    log('alice removed carol');
    // an address that is none: the engine's words, nothing changed
    await A.locator('#chat-member-add').fill('not an address');
    await A.getByRole('button', { name: 'Add', exact: true }).click();
    await A.locator('#chat-members-error', { hasText: 'Not changed' }).waitFor({ timeout: T });
    check((await apiCall(A, 'GET', `/api/chats/${gA.id}`)).json.messages.length === g2.messages.length, 'a refused change added a line');
    // carol back in
    await A.locator('#chat-member-add').fill(w.carol_addr);
    await A.getByRole('button', { name: 'Add', exact: true }).click();
    await A.locator('.sysline', { hasText: `You added ${w.carol_addr}` }).waitFor({ timeout: T });
    await A.locator('#chat-members summary', { hasText: 'Members (3)' }).waitFor({ timeout: T });
    await A.locator('.sysline', { hasText: `You added ${w.carol_addr}` }).getByRole('img', { name: 'Sent', exact: true }).waitFor({ timeout: T });
    log('alice added carol back');
    await A.locator('.chatrow .chatpreview', { hasText: `You added ${w.carol_addr}` }).waitFor({ timeout: T });
    await A.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await fits(A, 'alice\'s group with its members panel at 1280 px');
    await axe(A, 'alice\'s group with its members panel at 1280 px');
    await A.evaluate(() => document.activeElement && document.activeElement.blur());
    await A.mouse.move(0, 0);
    await shot(A, 'chat-members.png');
    // bob's page: the group, carol's removal and return as lines
    await B.emulateMedia({ colorScheme: 'light' });
    await B.setViewportSize({ width: 1280, height: 800 });
    let gB = null;
    for (let i = 0; i < 180 && !gB; i++) {
      gB = (await chats(B)).chats.find((c) => c.group && c.count >= 3);
      if (!gB) await B.waitForTimeout(500);
    }
    check(gB, 'bob\'s page never got the group with its two changes');
    await B.evaluate((id) => { location.hash = `#/chats/${id}`; }, gB.id);
    await B.locator('.sysline', { hasText: `${w.alice_addr} removed ${w.carol_addr}` }).waitFor({ timeout: T });
    await B.locator('.sysline', { hasText: `${w.alice_addr} added ${w.carol_addr}` }).waitFor({ timeout: T });
    check(JSON.stringify(gB.members.slice().sort()) === JSON.stringify([w.alice_addr, w.carol_addr].sort()), `bob's members: ${JSON.stringify(gB.members)}`);
    await axe(B, 'bob\'s group with its changes');
    log('bob saw the changes');

    check(errors.length === 0, `the pages reported:\n  ${errors.join('\n  ')}`);
    log('chat: all checks passed');
  } catch (e) {
    for (const [n, p] of [['alice', A], ['bob', B]]) {
      if (!p) continue;
      const f = join(tmpdir(), `qm-chat-failure-${n}.png`);
      await p.screenshot({ path: f }).then(() => log(`${n}'s page at the failure: ${f}`), () => {});
      log(`${n}:`, (await p.locator('main').textContent().catch(() => '')).slice(0, 300));
    }
    if (errors.length) log('page errors:', errors.join(' | '));
    throw e;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await env.stop();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error('chat: FAILED:', e.message); process.exitCode = 1; });
