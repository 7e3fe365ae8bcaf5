// Cordon's browser tests: the demo's three kinds of site (a tenant's store, the widget origin, the console)
// in real headless Chromium, driven with playwright-core. Started by crates/cordon/tests/browser.rs, which
// runs `cordon demo` and passes its URLs and accounts in CORDON_BROWSER_CONFIG (JSON).
//
// Groups: 1 a whole chat; 2 the widget cannot read the page (and back), cookies stay on the console;
// 3 tampering is refused (SRI, frame-ancestors); 4 hostile text is inert; 5 card numbers show as masks;
// 6 axe-core finds no serious or critical issue; 7 desktop and phone screenshots. Plus the loader's size
// and headers, and the exposure record as the browser produced it.
import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { createHash, createHmac } from 'node:crypto';
import { join } from 'node:path';
import http from 'node:http';
import { supportTests } from './support.mjs';
import { csatTests } from './csat.mjs';
import { vaultTests } from './vault.mjs';
import { filesTests } from './files.mjs';
import { searchTests } from './search.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const cfg = JSON.parse(process.env.CORDON_BROWSER_CONFIG || '{}');
for (const k of ['console', 'widget', 'stores', 'accounts', 'widget_keys', 'artifacts']) {
  if (!cfg[k]) { console.error(`CORDON_BROWSER_CONFIG lacks ${k}`); process.exit(2); }
}
const ART = cfg.artifacts;
rmSync(ART, { recursive: true, force: true });
mkdirSync(ART, { recursive: true });

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };
const CARD = '4111 1111 1111 1111';
const STEP = 15000;

// ---- harness --------------------------------------------------------------------------------------------

const results = [];
// A stuck browser must not hang CI: give up after ten minutes.
setTimeout(() => { console.log('FAIL watchdog: the browser tests took over 10 minutes'); process.exit(1); }, 600000).unref();
async function group(name, fn) {
  // CORDON_BROWSER_ONLY=<prefix> runs only the groups named so (while working on them); CI runs every group.
  if (process.env.CORDON_BROWSER_ONLY && !name.startsWith(process.env.CORDON_BROWSER_ONLY)) return;
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name} (${Date.now() - t0} ms)\n     ${String(e && e.stack || e).split('\n').join('\n     ')}`);
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
async function eventually(fn, what, timeout = STEP) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try { const v = await fn(); if (v) return v; last = v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
function account(tenant, role) {
  const a = cfg.accounts.find((x) => x.tenant === tenant && x.role === role);
  assert(a, `no ${role} account for ${tenant}`);
  return a;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // Playwright gives every launch a fresh, temporary --user-data-dir of its own.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

const dialogs = [];
const pageErrors = [];
async function context(opts = {}) {
  const ctx = await browser.newContext({ viewport: DESKTOP, ...opts });
  ctx.setDefaultTimeout(STEP);
  ctx.on('page', (p) => watch(p));
  return ctx;
}
function watch(p) {
  p.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  p.on('pageerror', (e) => pageErrors.push(`${p.url()}: ${e.message}`));
}

async function openStore(ctx, tenant, path = '/') {
  const page = await ctx.newPage();
  await page.goto(cfg.stores[tenant] + path);
  return page;
}
async function openWidget(page) {
  await page.getByRole('button', { name: /^Open chat/ }).click();
  const frame = page.frameLocator('iframe[title="Chat"]');
  await frame.locator('#input').waitFor({ state: 'visible' });
  return frame;
}
async function chatFrame(page) {
  const handle = await page.locator('iframe[title="Chat"]').elementHandle();
  return handle.contentFrame();
}
async function say(frame, text) {
  const input = frame.getByLabel('Your message');
  await input.click();
  await input.pressSequentially(text, { delay: 5 });
  await input.press('Enter');
}
async function login(page, tenant, role) {
  const a = account(tenant, role);
  await page.goto(cfg.console + '/console');
  await page.locator('#login-view:visible, #app-view:visible').first().waitFor();
  if (await page.locator('#app-view').isVisible()) {
    // Signed in already (another page of this browser): sign out first.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#login-view').waitFor({ state: 'visible' });
  }
  await page.getByLabel('Company (tenant)').fill(a.tenant);
  await page.getByLabel('Username').fill(a.username);
  await page.getByLabel('Password').fill(a.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#app-view').waitFor({ state: 'visible' });
  return a;
}
async function setStatus(page, status) {
  await page.getByLabel('Availability').selectOption(status);
  await page.locator(`#status-dot.${status}`).waitFor();
}
const bubbles = (scope, text) => scope.locator('.bubble', { hasText: text });

// A site that is none of Cordon's and not on any tenant's list, on its own loopback host: a real server, so the
// browser treats it as any other site (pages injected with page.route would not get loopback access).
const attacker = { pages: new Map(), origin: '' };
const attackerServer = http.createServer((req, res) => {
  const body = attacker.pages.get(req.url.split('?')[0]);
  res.writeHead(body ? 200 : 404, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body || 'not found');
});
await new Promise((resolve) => attackerServer.listen(0, '127.0.0.4', resolve));
attacker.origin = `http://127.0.0.4:${attackerServer.address().port}`;

// ---- 0. the loader as served ----------------------------------------------------------------------------

let loaderUrl = '';
let loaderSri = '';
await group('0 loader: small, content-addressed, immutable, CORS for SRI', async () => {
  const html = await (await fetch(cfg.stores.skyway + '/')).text();
  const m = html.match(/<script src="([^"]+\/w\/loader-[0-9a-f]+\.js)" integrity="(sha384-[^"]+)" crossorigin="anonymous" data-widget-key="([^"]+)" async><\/script>/);
  assert(m, 'the store embeds the one-line snippet');
  [, loaderUrl, loaderSri] = m;
  assert(loaderUrl.startsWith(cfg.widget + '/w/loader-'), 'the loader comes from the widget origin');
  const res = await fetch(loaderUrl);
  const bytes = Buffer.from(await res.arrayBuffer());
  const sri = 'sha384-' + createHash('sha384').update(bytes).digest('base64');
  assert(sri === loaderSri, 'the snippet pins the exact bytes served');
  const hex = createHash('sha384').update(bytes).digest('hex');
  assert(loaderUrl.includes(hex.slice(0, 20)), 'the URL carries the content hash');
  assert(res.headers.get('cache-control') === 'public, max-age=31536000, immutable', 'immutable');
  assert(res.headers.get('access-control-allow-origin') === '*', 'CORS for SRI');
  const gz = gzipSync(bytes, { level: 9 }).length;
  assert(gz <= 2048, `loader is ${gz} bytes gzipped (limit 2048)`);
  console.log(`     loader ${bytes.length} bytes, ${gz} gzipped`);
});

// ---- 1. a whole chat ------------------------------------------------------------------------------------

const agentCtx = await context();
const agentPage = await agentCtx.newPage();
const visitorCtx = await context();
const wsRoutes = [];
let blockSockets = false;
await visitorCtx.routeWebSocket(/\/ws\/visitor$/, (ws) => {
  if (blockSockets) { ws.close({ code: 1011, reason: 'test: network down' }); return; }
  const server = ws.connectToServer();
  wsRoutes.push({ ws, server });
});
let visitorPage;
let visitorFrame;

await group('1 a whole chat: store visitor and console agent, real clicks and typing', async () => {
  // A clear error on a bad sign-in.
  await agentPage.goto(cfg.console + '/console');
  await agentPage.getByLabel('Company (tenant)').fill('skyway');
  await agentPage.getByLabel('Username').fill(account('skyway', 'agent').username);
  await agentPage.getByLabel('Password').fill('not the password');
  await agentPage.getByRole('button', { name: 'Sign in' }).click();
  await agentPage.getByRole('alert').filter({ hasText: 'Wrong company, username or password' }).waitFor();
  await login(agentPage, 'skyway', 'agent');
  await setStatus(agentPage, 'online');

  visitorPage = await openStore(visitorCtx, 'skyway');
  visitorFrame = await openWidget(visitorPage);
  await say(visitorFrame, 'Hello! Is flight SK 204 on time?');
  await visitorFrame.locator('.sys', { hasText: 'joined the chat' }).waitFor();
  await bubbles(visitorFrame, 'Is flight SK 204 on time?').waitFor();
  await eventually(async () => (await visitorFrame.locator('.msg.me.pending').count()) === 0, 'the message to be acknowledged');

  // The agent's console lists it under My chats; open it.
  const item = agentPage.locator('#mine .conv-item').first();
  await item.waitFor();
  await item.click();
  await bubbles(agentPage.locator('#transcript'), 'Is flight SK 204 on time?').waitFor();
  // Read state reaches the visitor.
  await visitorFrame.locator('.state.read').waitFor();

  // Typing shows on the other side, then the answer arrives.
  const reply = agentPage.getByLabel('Reply');
  await reply.click();
  await reply.pressSequentially('Yes, it is on time', { delay: 20 });
  await visitorFrame.locator('#typing', { hasText: 'is typing' }).waitFor();
  await reply.pressSequentially(' and boarding starts at 09:40.', { delay: 5 });
  await reply.press('Enter');
  await bubbles(visitorFrame, 'boarding starts at 09:40').waitFor();

  // The visitor types too; the agent sees it.
  const input = visitorFrame.getByLabel('Your message');
  await input.click();
  await input.pressSequentially('Great', { delay: 30 });
  await agentPage.locator('#typing', { hasText: 'Visitor is typing' }).waitFor();
  await input.press('Enter');
  await bubbles(agentPage.locator('#transcript'), 'Great').waitFor();

  // Unread badge on the launcher while the chat is closed.
  await visitorFrame.getByRole('button', { name: 'Close chat' }).click();
  await agentPage.getByLabel('Reply').fill('Anything else I can help with?');
  await agentPage.getByLabel('Reply').press('Enter');
  await visitorPage.getByRole('button', { name: /Open chat, 1 unread/ }).waitFor();
  visitorFrame = await openWidget(visitorPage);
  await bubbles(visitorFrame, 'Anything else I can help with?').waitFor();
});

await group('1 reconnect: resume from the last seq, every message exactly once, unacked ones resent', async () => {
  assert(visitorFrame, 'needs the chat above');
  const before = wsRoutes.length;
  assert(before > 0, 'the visitor socket went through the route');
  blockSockets = true;
  const { ws, server } = wsRoutes[wsRoutes.length - 1];
  server.close();
  ws.close({ code: 1006, reason: 'test: dropped' });
  await visitorFrame.locator('#banner', { hasText: /Reconnecting|Connecting/ }).waitFor();
  // While the visitor is away: the agent writes, and the visitor writes (not yet deliverable).
  await agentPage.getByLabel('Reply').fill('Sent while you were offline');
  await agentPage.getByLabel('Reply').press('Enter');
  await bubbles(agentPage.locator('#transcript'), 'Sent while you were offline').waitFor();
  await say(visitorFrame, 'Typed while offline');
  await visitorFrame.locator('.msg.me.pending', { hasText: 'Typed while offline' }).waitFor();
  blockSockets = false;
  await bubbles(visitorFrame, 'Sent while you were offline').waitFor({ timeout: 30000 });
  await eventually(async () => (await visitorFrame.locator('#banner').isHidden()), 'the banner to go');
  await bubbles(agentPage.locator('#transcript'), 'Typed while offline').waitFor();
  await eventually(async () => (await visitorFrame.locator('.msg.me.pending').count()) === 0, 'the resent message to be acknowledged');
  await visitorPage.waitForTimeout(500);
  for (const [scope, text] of [[visitorFrame, 'Sent while you were offline'], [visitorFrame, 'Typed while offline'],
    [agentPage.locator('#transcript'), 'Typed while offline'], [visitorFrame, 'boarding starts at 09:40']]) {
    const n = await bubbles(scope, text).count();
    assert(n === 1, `"${text}" shown ${n} times`);
  }
});

await group('1 history survives a page load (token in the frame\'s storage, never in a URL)', async () => {
  await visitorPage.reload();
  visitorFrame = await openWidget(visitorPage);
  await bubbles(visitorFrame, 'Is flight SK 204 on time?').waitFor();
  await bubbles(visitorFrame, 'boarding starts at 09:40').waitFor();
  const frame = await chatFrame(visitorPage);
  assert(!frame.url().includes('cv_') && !frame.url().includes('token'), `frame URL carries no token: ${frame.url()}`);
  // This Chromium refuses storage to third-party frames, so the frame's memory is its partitioned cookie:
  // HttpOnly, sent only to /w/state on the widget origin, keyed by the embedding site.
  for (const r of wsRoutes) assert(new URL(r.ws.url()).search === '', `socket URL carries nothing: ${r.ws.url()}`);
  const widgetHost = new URL(cfg.widget).hostname;
  const kept = (await visitorCtx.cookies()).find((c) => c.name === 'cordon_frame' && c.domain === widgetHost);
  const local = await frame.evaluate(() => { try { return Object.keys(localStorage).map((k) => localStorage.getItem(k)).join(' '); } catch (e) { return ''; } });
  assert(/cv_/.test(local) || kept, 'the frame remembers the visitor');
  if (kept) {
    assert(kept.httpOnly && kept.secure && kept.sameSite === 'None' && kept.path === '/w/state', `cookie attributes: ${JSON.stringify(kept)}`);
    assert(kept.partitionKey === cfg.stores.skyway.replace(/:\d+$/, ''), `partitioned by the embedding site: ${kept.partitionKey}`);
  }
});

await group('1 queue: no agent online, "we\'ll reply here", then accept from the queue (Alt+A)', async () => {
  const ctx = await context();
  const store = await openStore(ctx, 'voltmart');
  const frame = await openWidget(store);
  await say(frame, 'Do the headphones come with a case?');
  await frame.locator('.notice', { hasText: "we'll reply here" }).waitFor();
  await frame.locator('#status', { hasText: 'Waiting' }).waitFor();
  // The agent signs in as away: the chat stays in the queue, flashes, and is accepted by keyboard.
  const agent = await ctx.newPage();
  await login(agent, 'voltmart', 'agent');
  await agent.locator('#queue .conv-item').first().waitFor();
  const title = await agent.title();
  assert(/waiting/.test(title), `the title shows the waiting chat: ${title}`);
  await agent.locator('#queue .conv-item').first().click();
  await bubbles(agent.locator('#transcript'), 'come with a case').waitFor();
  await agent.keyboard.press('Alt+A');
  await agent.locator('#mine .conv-item').first().waitFor();
  await frame.locator('.sys', { hasText: 'joined the chat' }).waitFor();
  await frame.locator('#status', { hasText: 'here to help' }).waitFor();
  await agent.getByLabel('Reply').fill('Yes, a hard case is included.');
  await agent.keyboard.press('Enter');
  await bubbles(frame, 'a hard case is included').waitFor();
  // Close by keyboard; the visitor sees it ended.
  await agent.keyboard.press('Alt+C');
  await frame.locator('#ended').waitFor({ state: 'visible' });
  await frame.locator('.sys', { hasText: 'closed the chat' }).waitFor();
  await ctx.close();
});

// ---- 2. the widget cannot read the page, and the page cannot read the widget --------------------------------

await group('2 frame cannot read the host card field; host cannot read the frame transcript', async () => {
  await visitorPage.getByLabel('Card number').fill(CARD);
  const frame = await chatFrame(visitorPage);
  const fromFrame = await frame.evaluate(() => {
    const out = {};
    try { out.value = window.parent.document.getElementById('cc-number').value; } catch (e) { out.value = 'blocked:' + e.name; }
    try { out.top = window.top.document.body.innerText; } catch (e) { out.top = 'blocked:' + e.name; }
    try { out.location = String(window.parent.location.href); } catch (e) { out.location = 'blocked:' + e.name; }
    return out;
  });
  assert(fromFrame.value === 'blocked:SecurityError', `frame reading the card field: ${fromFrame.value}`);
  assert(fromFrame.top === 'blocked:SecurityError', `frame reading the page: ${fromFrame.top}`);
  assert(fromFrame.location === 'blocked:SecurityError', `frame reading the page URL: ${fromFrame.location}`);
  const fromHost = await visitorPage.evaluate(() => {
    const host = Array.from(document.body.children).find((e) => e.shadowRoot);
    const iframe = host.shadowRoot.querySelector('iframe');
    const out = { doc: iframe.contentDocument === null ? 'null' : 'readable' };
    try { out.text = iframe.contentWindow.document.body.innerText; } catch (e) { out.text = 'blocked:' + e.name; }
    try { out.storage = iframe.contentWindow.localStorage.length; } catch (e) { out.storage = 'blocked:' + e.name; }
    return out;
  });
  assert(fromHost.doc === 'null', 'host sees no frame document');
  assert(fromHost.text === 'blocked:SecurityError', `host reading the transcript: ${fromHost.text}`);
  assert(fromHost.storage === 'blocked:SecurityError', `host reading the frame's storage: ${fromHost.storage}`);
});

await group('2 the console session cookie never reaches the widget origin', async () => {
  // One browser, like an agent testing the store in another tab: console signed in, store with the chat open.
  const ctx = await context();
  const sent = [];
  ctx.on('request', async (req) => {
    if (req.url().startsWith(cfg.widget)) {
      const headers = await req.allHeaders().catch(() => ({}));
      sent.push({ url: req.url(), cookie: headers.cookie || '' });
    }
  });
  const consolePage = await ctx.newPage();
  await login(consolePage, 'skyway', 'admin');
  const consoleCookies = await ctx.cookies(cfg.console);
  const session = consoleCookies.find((c) => c.name === 'cordon_session');
  assert(session, 'signed in: the console has its session cookie');
  assert(session.httpOnly && session.sameSite === 'Strict', 'HttpOnly, SameSite=Strict');
  assert(session.domain === new URL(cfg.console).hostname, `host-only cookie for ${session.domain}`);
  const store = await openStore(ctx, 'skyway');
  const frame = await openWidget(store);
  await say(frame, 'Checking cookies');
  await bubbles(frame, 'Checking cookies').waitFor();
  const widgetCookies = await ctx.cookies(cfg.widget);
  assert(!widgetCookies.some((c) => c.name === 'cordon_session'), 'no session cookie for the widget origin');
  assert(sent.length >= 3, `saw the widget's requests (${sent.length})`);
  for (const r of sent) assert(!r.cookie.includes('cordon_session'), `cookie sent to ${r.url}`);
  const f = await chatFrame(store);
  assert(!(await f.evaluate(() => document.cookie)).includes('cordon_session'), 'frame sees no session cookie');
  // Script in the frame cannot use the agent's session: the API refuses cross-origin reads.
  const probe = await f.evaluate(async (consoleOrigin) => {
    try {
      const r = await fetch(consoleOrigin + '/api/v1/me', { credentials: 'include' });
      return 'read:' + r.status;
    } catch (e) { return 'blocked:' + e.name; }
  }, cfg.console);
  assert(probe.startsWith('blocked'), `frame script reading the console API: ${probe}`);
  await ctx.close();
});

await group('2 the loader touches nothing of the page but its own script element', async () => {
  const ctx = await context();
  await ctx.addInitScript(() => {
    const traps = [];
    window.__traps = traps;
    const note = (what, el) => {
      const stack = new Error().stack || '';
      traps.push({ what, stack, own: !!(el && el.tagName === 'SCRIPT' && /\/w\/loader-/.test(el.src || '')) });
    };
    const wrapGetter = (proto, prop, label) => {
      const d = Object.getOwnPropertyDescriptor(proto, prop);
      if (!d || !d.get) return;
      Object.defineProperty(proto, prop, { ...d, get() { note(label, this); return d.get.call(this); } });
    };
    const wrapMethod = (proto, prop, label) => {
      const f = proto[prop];
      if (typeof f !== 'function') return;
      proto[prop] = function (...args) { note(label, this); return f.apply(this, args); };
    };
    wrapGetter(HTMLInputElement.prototype, 'value', 'input.value');
    wrapGetter(HTMLTextAreaElement.prototype, 'value', 'textarea.value');
    wrapGetter(HTMLSelectElement.prototype, 'value', 'select.value');
    wrapGetter(Document.prototype, 'cookie', 'document.cookie');
    wrapGetter(window, 'localStorage', 'localStorage');
    wrapGetter(window, 'sessionStorage', 'sessionStorage');
    for (const m of ['querySelector', 'querySelectorAll', 'getElementById', 'getElementsByTagName',
      'getElementsByClassName', 'getElementsByName', 'evaluate', 'createTreeWalker', 'createNodeIterator']) {
      wrapMethod(Document.prototype, m, 'document.' + m);
    }
    for (const m of ['querySelector', 'querySelectorAll', 'getElementsByTagName', 'getElementsByClassName',
      'getAttribute', 'closest']) {
      wrapMethod(Element.prototype, m, 'element.' + m);
    }
    wrapGetter(HTMLElement.prototype, 'dataset', 'element.dataset');
    wrapGetter(HTMLElement.prototype, 'innerText', 'element.innerText');
    wrapGetter(Node.prototype, 'textContent', 'node.textContent');
    wrapGetter(Element.prototype, 'innerHTML', 'element.innerHTML');
    wrapGetter(Document.prototype, 'forms', 'document.forms');
    wrapGetter(HTMLFormElement.prototype, 'elements', 'form.elements');
  });
  const store = await openStore(ctx, 'skyway');
  await store.getByLabel('Card number').fill(CARD);
  const frame = await openWidget(store);
  await say(frame, 'Loader audit');
  await bubbles(frame, 'Loader audit').waitFor();
  await store.getByRole('button', { name: /^Close chat/ }).click();
  await store.getByRole('button', { name: /^Pay / }).click();
  await store.getByText('Demo only').waitFor();
  const traps = await store.evaluate(() => window.__traps.map((t) => ({ what: t.what, own: t.own, loader: /\/w\/loader-/.test(t.stack), store: /\/store-[0-9a-f]+\.js/.test(t.stack) })));
  const byLoader = traps.filter((t) => t.loader && !(t.own && t.what === 'element.dataset'));
  assert(byLoader.length === 0, `the loader read page data: ${JSON.stringify(byLoader)}`);
  assert(traps.some((t) => t.loader && t.own), 'positive control: the loader read its own data-* attributes');
  assert(traps.some((t) => t.store && t.what === 'input.value'), 'positive control: the store\'s own script reading the card field is caught');
  await ctx.close();
});

// ---- 3. tampering -----------------------------------------------------------------------------------------

await group('3 a loader whose bytes differ from the SRI hash is refused', async () => {
  const wrongHash = 'sha384-' + createHash('sha384').update('not the loader').digest('base64');
  const snippet = (sri) => `<!doctype html><html lang="en"><title>Shop</title><body><h1>Checkout</h1>
    <script src="${loaderUrl}" integrity="${sri}" crossorigin="anonymous" data-widget-key="${cfg.widget_keys.skyway}" async></script></body></html>`;
  attacker.pages.set('/right-hash', snippet(loaderSri));
  attacker.pages.set('/wrong-hash', snippet(wrongHash));
  const ctx = await context();
  const messages = [];
  // (a) The page pins a different hash than the loader's; the same page with the right hash is the control.
  const a = await ctx.newPage();
  a.on('console', (m) => messages.push(m.text()));
  await a.goto(attacker.origin + '/wrong-hash');
  await eventually(() => messages.some((t) => /integrity/i.test(t)), 'the integrity failure in the console');
  assert(await a.getByRole('button', { name: /Open chat/ }).count() === 0, 'no launcher with a wrong hash');
  assert(await a.locator('iframe').count() === 0, 'no frame with a wrong hash');
  const control = await ctx.newPage();
  await control.goto(attacker.origin + '/right-hash');
  await control.getByRole('button', { name: /Open chat/ }).waitFor();
  messages.length = 0;
  // (b) The loader's bytes are changed in transit; the page's hash is the real one.
  const b = await ctx.newPage();
  b.on('console', (m) => messages.push(m.text()));
  await b.route(loaderUrl, async (r) => {
    const res = await r.fetch();
    const body = (await res.text()) + '\n;document.title = document.cookie;';
    await r.fulfill({ response: res, body });
  });
  await b.goto(cfg.stores.skyway + '/');
  await eventually(() => messages.some((t) => /integrity/i.test(t)), 'the integrity failure in the console');
  assert(await b.getByRole('button', { name: /Open chat/ }).count() === 0, 'no launcher from changed bytes');
  // Positive control: the untouched page gets its launcher.
  const c = await ctx.newPage();
  await c.goto(cfg.stores.skyway + '/');
  await c.getByRole('button', { name: /Open chat/ }).waitFor();
  await ctx.close();
});

await group('3 the frame refuses to render inside an origin not on the tenant\'s list', async () => {
  const ctx = await context();
  const messages = [];
  ctx.on('console', (m) => messages.push(m.text()));
  // Another site embeds Skyway's widget key (correct loader and SRI): Skyway allows only its own store.
  attacker.pages.set('/borrowed', `<!doctype html><html lang="en"><title>Not Skyway</title><body><h1>Another site</h1>
    <script src="${loaderUrl}" integrity="${loaderSri}" crossorigin="anonymous" data-widget-key="${cfg.widget_keys.skyway}" async></script></body></html>`);
  const page = await ctx.newPage();
  page.on('console', (m) => messages.push(m.text()));
  await page.goto(attacker.origin + '/borrowed');
  await page.getByRole('button', { name: /Open chat/ }).click();
  await eventually(() => messages.some((t) => /frame-ancestors/.test(t)), 'the frame-ancestors refusal in the console');
  const frames = page.frames().filter((f) => f !== page.mainFrame());
  for (const f of frames) {
    const composer = await f.locator('#composer').count().catch(() => 0);
    assert(composer === 0, `the chat rendered inside a foreign origin (${f.url()})`);
  }
  // The frame opened on its own (not embedded) does nothing either.
  const direct = await ctx.newPage();
  await direct.goto(`${cfg.widget}/w/frame/${cfg.widget_keys.skyway}`);
  await direct.getByText('This chat opens from the website it belongs to.').waitFor();
  // Positive control: Voltmart's own key on Voltmart's store renders.
  const own = await openStore(ctx, 'voltmart');
  await openWidget(own);
  await ctx.close();
});

// ---- 4. hostile text --------------------------------------------------------------------------------------

await group('4 markup and script in messages render as inert text on both sides', async () => {
  assert(visitorFrame, 'needs the chat above');
  const v1 = '<img src=x onerror="window.__pwned=1;alert(1)">';
  const v2 = '<script>window.__pwned=2<\/script><b>bold?</b>';
  const a1 = '<img src=x onerror=alert(3)><a href="javascript:alert(4)">click</a>';
  await say(visitorFrame, v1);
  await say(visitorFrame, v2);
  const transcript = agentPage.locator('#transcript');
  await bubbles(transcript, 'onerror').first().waitFor();
  await bubbles(transcript, 'bold?').waitFor();
  await agentPage.getByLabel('Reply').fill(a1);
  await agentPage.getByLabel('Reply').press('Enter');
  await bubbles(visitorFrame, 'javascript:alert(4)').waitFor();
  await visitorPage.waitForTimeout(500);
  const frame = await chatFrame(visitorPage);
  for (const [name, where, scope] of [['widget', frame, '#log'], ['console', agentPage, '#transcript']]) {
    const found = await where.evaluate((sel) => {
      const root = document.querySelector(sel);
      return {
        elements: root.querySelectorAll('.bubble img, .bubble script, .bubble b, .bubble a').length,
        texts: Array.from(root.querySelectorAll('.bubble')).map((b) => b.textContent),
        pwned: window.__pwned,
      };
    }, scope);
    assert(found.elements === 0, `${name}: markup became elements`);
    assert(found.pwned === undefined, `${name}: script ran`);
    for (const t of [v1, v2, a1]) assert(found.texts.includes(t), `${name}: shows "${t}" as text (${JSON.stringify(found.texts.slice(-4))})`);
  }
  assert(dialogs.length === 0, `dialogs opened: ${dialogs.join(', ')}`);
});

// ---- 5. card numbers ----------------------------------------------------------------------------------------

await group('5 a card number typed into the widget shows as the mask on both sides', async () => {
  assert(visitorFrame, 'needs the chat above');
  await say(visitorFrame, `My card is ${CARD}, can you check the payment?`);
  await visitorFrame.locator('.notice', { hasText: /card numbers/i }).waitFor();
  const mask = await eventually(async () => {
    const t = await visitorFrame.locator('.msg.me .bubble', { hasText: 'can you check the payment' }).textContent();
    return t && !t.includes('4111') && t;
  }, 'the visitor\'s own message to show the mask');
  assert(/1111/.test(mask) && /•/.test(mask), `the mask keeps the last four: ${mask}`);
  await bubbles(agentPage.locator('#transcript'), 'can you check the payment').waitFor();
  const agentText = await agentPage.locator('#transcript').innerText();
  assert(agentText.includes(mask.trim()), 'the agent sees the same mask');
  const digits = [CARD, CARD.replace(/ /g, '')];
  const frame = await chatFrame(visitorPage);
  const frameText = await frame.evaluate(() => document.body.innerText + document.documentElement.outerHTML);
  const consoleText = await agentPage.evaluate(() => document.body.innerText + document.documentElement.outerHTML);
  for (const d of digits) {
    assert(!frameText.includes(d), 'the widget holds the number');
    assert(!consoleText.includes(d), 'the console holds the number');
  }
});

// ---- transfer, next --------------------------------------------------------------------------------------------

await group('1 transfer to another agent; Alt+N moves between chats', async () => {
  assert(visitorFrame, 'needs the chat above');
  const ctx = await context();
  const ada = await ctx.newPage();
  await login(ada, 'skyway', 'admin');
  await setStatus(ada, 'online');
  // Sam has several chats by now (the ones above); Alt+N walks them, and comes back to this one.
  await agentPage.bringToFront();
  const mine = agentPage.locator('#mine .conv-item');
  const count = await mine.count();
  const current = await agentPage.locator('#conv-sub').textContent();
  if (count > 1) {
    await agentPage.keyboard.press('Alt+N');
    await eventually(async () => (await agentPage.locator('#conv-sub').textContent()) !== current, 'Alt+N to open another chat');
    for (let i = 1; i < count && (await agentPage.locator('#conv-sub').textContent()) !== current; i++) {
      await agentPage.keyboard.press('Alt+N');
      await agentPage.waitForTimeout(150);
    }
    await eventually(async () => (await agentPage.locator('#conv-sub').textContent()) === current, 'Alt+N to come back round');
  }
  // Transfer the chat to Ada.
  const adaId = await agentPage.locator('#transfer-to option', { hasText: /^Ada/ }).getAttribute('value');
  await agentPage.getByLabel('Transfer to').selectOption(adaId);
  await agentPage.getByRole('button', { name: 'Transfer' }).click();
  await visitorFrame.locator('.sys', { hasText: 'transferred the chat' }).waitFor();
  await visitorFrame.locator('#status', { hasText: /^Ada/ }).waitFor();
  await agentPage.locator('#readonly-note', { hasText: 'handled by' }).waitFor();
  const item = ada.locator('#mine .conv-item').first();
  await item.waitFor();
  await item.click();
  await bubbles(ada.locator('#transcript'), 'Is flight SK 204 on time?').waitFor();
  await ada.getByLabel('Reply').fill('Ada here, I have taken over.');
  await ada.keyboard.press('Enter');
  await bubbles(visitorFrame, 'Ada here').waitFor();
  await ada.getByRole('button', { name: 'Close chat' }).click();
  await visitorFrame.locator('#ended').waitFor({ state: 'visible' });
  await setStatus(ada, 'offline');
  await ctx.close();
});

// ---- exposure record ----------------------------------------------------------------------------------------

await group('exposure record: the browser-reported embedding origin and the served asset hashes', async () => {
  const ctx = await context();
  const page = await ctx.newPage();
  await login(page, 'skyway', 'admin');
  const res = await page.request.get(cfg.console + '/api/v1/visitor-sessions?limit=1000');
  assert(res.ok(), `visitor-sessions: ${res.status()}`);
  const { sessions } = await res.json();
  const loaderHex = Buffer.from(loaderSri.slice(7), 'base64').toString('hex');
  const mine = sessions.filter((s) => s.embed_origin === cfg.stores.skyway);
  assert(mine.length >= 2, `sessions embedded in the skyway store: ${JSON.stringify(sessions.map((s) => s.embed_origin))}`);
  assert(mine.every((s) => s.asset_hashes.includes(loaderHex) && s.asset_hashes.length === 4), 'each names the loader and the frame files');
  const byHash = await (await page.request.get(cfg.console + '/api/v1/visitor-sessions?limit=1000&asset_hash=' + encodeURIComponent(loaderSri))).json();
  assert(byHash.sessions.length === sessions.length, 'the same sessions by the loader\'s SRI hash');
  const other = 'sha384-' + createHash('sha384').update('other').digest('base64');
  const none = await (await page.request.get(cfg.console + '/api/v1/visitor-sessions?asset_hash=' + encodeURIComponent(other))).json();
  assert(none.sessions.length === 0, 'none for another hash');
  await ctx.close();
});

// ---- transparency report ------------------------------------------------------------------------------------

await group('transparency report: tables, the sessions-by-file chart, the checkpoint verified; desktop and 390 px', async () => {
  for (const [size, viewport] of [['desktop', DESKTOP], ['390', { width: 390, height: 844 }]]) {
    const ctx = await context({ viewport });
    const page = await ctx.newPage();
    await login(page, 'skyway', 'admin');
    await page.goto(cfg.console + '/console/admin');
    await page.locator('#t-files tr').first().waitFor();
    const files = await page.locator('#t-files tr').allTextContents();
    assert(files.some((t) => t.includes('loader.js') && t.includes('known release')), `the loader is a known release: ${files}`);
    assert(files.every((t) => !t.includes('NOT a Cordon release')), `no unknown widget file: ${files}`);
    assert(await page.locator('#t-chart svg rect').count() > 0, 'the chart has bars');
    const data = await page.locator('#t-data').textContent();
    assert(data.includes('Chat sessions') && data.includes('Card mentions'), `data categories: ${data}`);
    const systems = await page.locator('#t-systems').textContent();
    assert(systems.includes('SQLite') && systems.includes('none configured'), `systems: ${systems}`);
    await eventually(async () => !(await page.locator('#t-verify').isDisabled()), 'a checkpoint to verify', 10000);
    await page.locator('#t-verify').click();
    await eventually(async () => ((await page.locator('#t-verify-status').textContent()) || '').includes('verified'), 'the checkpoint verified');
    // The whole page, so the sticky header stays at the top (an element shot scrolls it over the section).
    await page.screenshot({ path: join(ART, `transparency-${size}.png`), fullPage: true, animations: 'disabled' });
    await page.locator('#t-chart').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ART, `transparency-chart-${size}.png`), animations: 'disabled' });
    const [sw, iw, wide] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth,
      Array.from(document.querySelectorAll('body *')).filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
        .filter((e) => !(e.parentElement && e.parentElement.closest('.table-wrap')))
        .concat(Array.from(document.querySelectorAll('body *')).filter((e) => e.scrollWidth > e.clientWidth + 1
          && getComputedStyle(e).overflowX === 'visible' && e.clientWidth > 0))
        .slice(0, 12).map((e) => e.tagName + '#' + e.id + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right))]);
    assert(sw <= iw, `admin with the transparency report is wider than the ${size} screen: ${sw} > ${iw}: ${wide.join(', ')}`);
    await ctx.close();
  }
});

// ---- webhooks (issue 16) -------------------------------------------------------------------------------------

// A receiver in this script (Node's crypto, apart from Cordon's Rust): it checks each Standard Webhooks signature
// with the secret the admin page showed once, and answers the first attempt of each id with 500.
const hooks = { secret: '', seen: new Set(), requests: [] };
const hookServer = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const id = req.headers['webhook-id'] || '';
    const ts = req.headers['webhook-timestamp'] || '';
    const key = Buffer.from(hooks.secret.replace(/^whsec_/, ''), 'base64');
    const want = createHmac('sha256', key).update(`${id}.${ts}.`).update(body).digest('base64');
    const verified = String(req.headers['webhook-signature'] || '').split(' ').some((p) => p === `v1,${want}`);
    const first = !hooks.seen.has(id);
    hooks.seen.add(id);
    hooks.requests.push({ id, verified, first, body: body.toString('utf8') });
    res.writeHead(first ? 500 : 200);
    res.end(first ? 'try again' : 'ok');
  });
});
await new Promise((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
const hookUrl = `http://127.0.0.1:${hookServer.address().port}/cordon`;

await group('webhooks: an admin adds an endpoint, events arrive signed, a failed attempt is retried; desktop and 390 px', async () => {
  const ctx = await context();
  const admin = await ctx.newPage();
  await login(admin, 'skyway', 'admin');
  await admin.goto(cfg.console + '/console/admin');
  await admin.locator('#hooks tr').first().waitFor();
  await admin.getByLabel('URL').fill(hookUrl);
  await admin.getByLabel('message.created (redacted text)').check();
  await admin.getByLabel('Description (optional)').fill('CRM sync');
  await admin.getByRole('button', { name: 'Add endpoint' }).click();
  await admin.locator('#hook-box').waitFor({ state: 'visible' });
  hooks.secret = await admin.locator('#hook-secret').inputValue();
  assert(hooks.secret.startsWith('whsec_'), `the secret is shown once: ${hooks.secret.slice(0, 6)}`);
  await eventually(async () => ((await admin.locator('#hooks').textContent()) || '').includes(hookUrl), 'the endpoint listed');

  // A visitor chats and types a card: the events reach the receiver, the card masked.
  const store = await openStore(ctx, 'skyway');
  const frame = await openWidget(store);
  await say(frame, `webhook check, card ${CARD}`);
  await bubbles(frame, 'webhook check').waitFor();
  await eventually(async () => hooks.requests.some((r) => !r.first && r.body.includes('webhook check')),
    'the message event delivered on its retry', 30000);
  assert(hooks.requests.every((r) => r.verified), 'every request verifies with the secret the page showed');
  assert(hooks.requests.every((r) => !r.body.includes(CARD) && !r.body.includes(CARD.replace(/ /g, ''))), 'no card number in any request');
  const types = new Set(hooks.requests.map((r) => JSON.parse(r.body).type));
  assert(types.has('conversation.created') && types.has('message.created'), `event types: ${[...types]}`);

  for (const [size, viewport] of [['desktop', DESKTOP], ['390', { width: 390, height: 844 }]]) {
    const page = size === 'desktop' ? admin : await (await context({ viewport })).newPage();
    if (size !== 'desktop') {
      await login(page, 'skyway', 'admin');
      await page.goto(cfg.console + '/console/admin');
    }
    await page.locator('#d-state').selectOption('delivered');
    await eventually(async () => ((await page.locator('#deliveries').textContent()) || '').includes('message.created'),
      'the delivered events listed');
    const rows = await page.locator('#deliveries tr').allTextContents();
    assert(rows.every((t) => t.includes('delivered')), `delivered rows: ${rows}`);
    // The sticky header covers the top 70 px: scroll each part below it.
    for (const [part, sel] of [['', '#hooks-h'], ['-deliveries', '#d-state']]) {
      await page.locator(sel).evaluate((e) => { e.scrollIntoView(); window.scrollBy(0, -70); });
      await page.screenshot({ path: join(ART, `webhooks${part}-${size}.png`), animations: 'disabled' });
    }
    const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert(sw <= iw, `admin with webhooks is wider than the ${size} screen: ${sw} > ${iw}`);
  }
  // A visitor request in the admin page: export the webhook-check visitor (a JSON download), then delete them.
  const convs = await (await admin.request.get(cfg.console + '/api/v1/conversations?limit=200')).json();
  const list = Array.isArray(convs) ? convs : convs.conversations;
  const mine = hooks.requests.map((r) => JSON.parse(r.body)).find((b) => b.type === 'conversation.created');
  const conv = list.find((c) => c.id === mine.data.conversation_id);
  assert(conv && conv.visitor_id, `the webhook-check conversation is listed: ${JSON.stringify(list).slice(0, 300)}`);
  await admin.getByLabel('Id', { exact: true }).fill(conv.visitor_id);
  const [download] = await Promise.all([admin.waitForEvent('download'), admin.getByRole('button', { name: 'Export' }).click()]);
  const exported = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert(exported.visitor_ids[0] === conv.visitor_id && exported.tables.messages.length >= 1, 'the export holds the visitor and messages');
  assert(!JSON.stringify(exported).includes(CARD.replace(/ /g, '')) && !JSON.stringify(exported).includes(CARD), 'no card number in the export');
  await eventually(async () => ((await admin.locator('#vr-status').textContent()) || '').includes('Exported 1 visitor'), 'the export reported');
  await admin.getByRole('button', { name: 'Delete…' }).click();
  await admin.locator('#vr-h').evaluate((e) => { e.scrollIntoView(); window.scrollBy(0, -70); });
  await admin.screenshot({ path: join(ART, 'visitor-request-desktop.png'), animations: 'disabled' });
  await admin.getByRole('button', { name: 'Yes, delete' }).click();
  await eventually(async () => ((await admin.locator('#vr-status').textContent()) || '').includes('Deleted 1 visitor'), 'the deletion reported');
  const gone = await admin.request.get(cfg.console + '/api/v1/conversations/' + conv.id);
  assert(gone.status() === 404, `the conversation is gone: ${gone.status()}`);

  // Retention in the admin page: saved, stated back, then cleared again (the demo keeps everything).
  await admin.getByLabel('Closed conversations (days)').fill('400');
  await admin.getByRole('button', { name: 'Save retention' }).click();
  await eventually(async () => ((await admin.locator('#ret-status').textContent()) || '').includes('400 days'), 'retention saved');
  const ret = await (await admin.request.get(cfg.console + '/api/v1/tenant/retention')).json();
  assert(ret.transcript_days === 400 && ret.exposure_days === null, `retention: ${JSON.stringify(ret)}`);
  await admin.getByLabel('Closed conversations (days)').fill('');
  await admin.getByRole('button', { name: 'Save retention' }).click();
  await eventually(async () => ((await admin.locator('#ret-status').textContent()) || '').toLowerCase().includes('no retention period'), 'retention cleared');

  // Delete the endpoint again, so the screenshots and checks below see the demo as it was.
  await admin.getByRole('button', { name: 'Delete endpoint ' + hookUrl }).click();
  await eventually(async () => ((await admin.locator('#hooks').textContent()) || '').includes('No endpoints yet'), 'the endpoint deleted');
  await ctx.close();
});

// ---- 6. accessibility ---------------------------------------------------------------------------------------

async function axe(target, label) {
  await target.evaluate(AXE);
  const r = await target.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of r.violations) {
    console.log(`     axe ${label}: ${v.impact} ${v.id} (${v.nodes.length}) ${v.nodes.slice(0, 2).map((n) => n.target.join(' ')).join(', ')}`);
  }
  return bad.map((v) => `${label}: ${v.id} ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

await group('6 axe-core: no serious or critical violations on widget, console and admin', async () => {
  // axe is injected as a script: this context lets it past the pages' CSP (the pages themselves are unchanged).
  const ctx = await context({ bypassCSP: true });
  const problems = [];
  const store = await openStore(ctx, 'skyway');
  problems.push(...await axe(store, 'store page with launcher'));
  await openWidget(store);
  const frame = await chatFrame(store);
  await say(store.frameLocator('iframe[title="Chat"]'), 'Accessibility check');
  await bubbles(store.frameLocator('iframe[title="Chat"]'), 'Accessibility check').waitFor();
  problems.push(...await axe(frame, 'widget'));
  const page = await ctx.newPage();
  await page.goto(cfg.console + '/console');
  await page.locator('#login-view').waitFor({ state: 'visible' });
  problems.push(...await axe(page, 'console sign-in'));
  await login(page, 'skyway', 'agent');
  const item = page.locator('#mine .conv-item').first();
  await item.waitFor();
  await item.click();
  await page.locator('#transcript .bubble').first().waitFor();
  problems.push(...await axe(page, 'console chat'));
  await page.getByRole('tab', { name: 'History' }).click();
  await page.locator('#history .conv-item').first().waitFor();
  problems.push(...await axe(page, 'console history'));
  const admin = await ctx.newPage();
  await login(admin, 'skyway', 'admin');
  await admin.goto(cfg.console + '/console/admin');
  await admin.locator('#agents tr').first().waitFor();
  await admin.locator('#t-files tr').first().waitFor();
  problems.push(...await axe(admin, 'admin'));
  assert(problems.length === 0, problems.join('\n'));
  await ctx.close();
});

// ---- 7. screenshots ------------------------------------------------------------------------------------------

/** Close every chat of the signed-in agent, accepting queued ones first, so the agent has room again. */
async function closeAll(page) {
  for (let i = 0; i < 12; i++) {
    const mine = page.locator('#mine .conv-item');
    const queued = page.locator('#queue .conv-item');
    if (await mine.count()) {
      const before = await mine.count();
      await mine.first().click();
      await page.keyboard.press('Alt+C');
      await eventually(async () => (await mine.count()) < before || (await queued.count()) > 0, 'the chat to close', 5000).catch(() => {});
    } else if (await queued.count()) {
      await queued.first().click();
      await page.keyboard.press('Alt+A');
      await mine.first().waitFor({ timeout: 5000 });
    } else {
      return;
    }
  }
}

await group('7 screenshots: widget, console and admin, desktop and phone', async () => {
  await agentPage.bringToFront();
  await closeAll(agentPage);
  const shots = [];
  for (const [size, viewport, extra] of [['desktop', DESKTOP, {}], ['phone', PHONE, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 }]]) {
    const ctx = await context({ viewport, ...extra });
    const store = await openStore(ctx, 'skyway');
    await store.screenshot({ path: join(ART, `store-${size}.png`) });
    const frame = await openWidget(store);
    await say(frame, 'Hi! Can I add a checked bag to my booking?');
    await bubbles(frame, 'checked bag').waitFor();
    await eventually(async () => (await frame.locator('.msg.me.pending').count()) === 0, 'ack');
    await store.screenshot({ path: join(ART, `widget-${size}.png`), animations: 'disabled' });
    const page = await ctx.newPage();
    await page.goto(cfg.console + '/console');
    await page.locator('#login-view').waitFor({ state: 'visible' });
    await page.screenshot({ path: join(ART, `console-login-${size}.png`) });
    await login(page, 'skyway', 'agent');
    const item = page.locator('.conv-item', { hasText: 'checked bag' }).first();
    await item.waitFor();
    await item.click();
    await bubbles(page.locator('#transcript'), 'checked bag').waitFor();
    if (await page.getByRole('button', { name: 'Accept' }).isVisible()) {
      await page.getByRole('button', { name: 'Accept' }).click();
      await page.getByLabel('Reply').waitFor();
    }
    await page.getByLabel('Reply').fill('Of course. A 23 kg bag is £35; I can add it now.');
    await page.getByLabel('Reply').press('Enter');
    await bubbles(frame, '23 kg bag').waitFor();
    await page.screenshot({ path: join(ART, `console-${size}.png`), animations: 'disabled' });
    await store.bringToFront();
    await store.screenshot({ path: join(ART, `widget-reply-${size}.png`), animations: 'disabled' });
    await page.keyboard.press('Alt+C');
    const admin = await ctx.newPage();
    await login(admin, 'skyway', 'admin');
    await admin.goto(cfg.console + '/console/admin');
    await admin.locator('#agents tr').first().waitFor();
    await admin.locator('#snippet').evaluate((t) => t.value.length > 0 || new Promise((r) => setTimeout(r, 500)));
    await admin.locator('#sessions tr').first().waitFor();
    await admin.screenshot({ path: join(ART, `admin-${size}.png`), fullPage: true });
    // Nothing is wider than the screen (360 px on the phone).
    for (const [name, target] of [['store', store], ['widget', await chatFrame(store)], ['console', page], ['admin', admin]]) {
      const [sw, iw] = await target.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert(sw <= iw, `${name} is wider than the ${size} screen: ${sw} > ${iw}`);
    }
    shots.push(`store-${size}`, `widget-${size}`, `widget-reply-${size}`, `console-login-${size}`, `console-${size}`, `admin-${size}`);
    await ctx.close();
  }
  console.log(`     saved ${shots.length} screenshots in ${ART}`);
});

// ---- issue 20: the console and widget a support team expects (tests/browser/support.mjs) -------------------

await supportTests({ group, context, login, setStatus, openStore, openWidget, chatFrame, say, bubbles, eventually, assert, account, closeAll, cfg, ART, DESKTOP });
await csatTests({ group, context, login, setStatus, openStore, openWidget, chatFrame, say, bubbles, eventually, assert, account, closeAll, cfg, ART, DESKTOP });

// ---- issue 20, item 5: files and images (tests/browser/files.mjs) ----------------------------------------------

await filesTests({ group, context, login, setStatus, openStore, openWidget, chatFrame, say, bubbles, eventually, assert, account, closeAll, cfg, ART, DESKTOP });
await searchTests({ group, context, login, setStatus, openStore, openWidget, chatFrame, say, bubbles, eventually, assert, account, closeAll, cfg, ART, DESKTOP });

// ---- issue 15: the card vault (tests/browser/vault.mjs) ------------------------------------------------------

await vaultTests({ group, context, login, setStatus, openStore, openWidget, chatFrame, say, bubbles, eventually, assert, account, closeAll, cfg, ART, DESKTOP });

// ---- 8. operator access and a second factor (issue 12) ---------------------------------------------------
// Last: it gives Skyway's admin a second factor, which later password-only sign-ins would not pass.

// RFC 6238 (SHA-1, 6 digits, 30 s), as an authenticator app computes it, for the secret in base32.
function totp(base32, offsetSteps = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offsetSteps));
  const mac = createHmac('sha1', key).update(counter).digest();
  const o = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}
async function apiCall(method, path, body, token) {
  const res = await fetch(cfg.console + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return [res.status, await res.json().catch(() => null)];
}

await group('8 operator access: an operator asks with a reason, the tenant admin approves it in the admin pages', async () => {
  const op = (cfg.operators || [])[0];
  assert(op, 'the demo made an operator');
  const [s1, session] = await apiCall('POST', '/api/v1/operator/sessions', { name: op.name, password: op.password, code: totp(op.totp_secret) });
  assert(s1 === 201, `operator sign-in: ${s1} ${JSON.stringify(session)}`);
  const [s0] = await apiCall('GET', '/api/v1/operator/tenants/skyway/conversations', undefined, session.token);
  assert(s0 === 403, `no standing access: ${s0}`);
  const [s2, grant] = await apiCall('POST', '/api/v1/operator/grants',
    { tenant: 'skyway', reason: 'Ticket 1042: a visitor reports the chat stuck on connecting', hours: 2 }, session.token);
  assert(s2 === 201, `grant request: ${s2} ${JSON.stringify(grant)}`);
  const ctx = await context();
  const page = await ctx.newPage();
  await login(page, 'skyway', 'admin');
  await page.goto(cfg.console + '/console/admin');
  const row = page.locator(`#grants tr[data-grant="${grant.id}"]`);
  await row.waitFor();
  assert((await row.innerText()).includes('Ticket 1042'), 'the reason is shown to the admin');
  await row.scrollIntoViewIfNeeded();
  await page.locator('#grants-h').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(ART, 'grant-pending.png'), animations: 'disabled' });
  await row.getByRole('button', { name: 'Approve' }).click();
  await eventually(async () => (await page.locator(`#grants tr[data-grant="${grant.id}"]`).innerText()).includes('active'), 'the grant to show active');
  await page.screenshot({ path: join(ART, 'grant-approved.png'), animations: 'disabled' });
  const [s3] = await apiCall('GET', '/api/v1/operator/tenants/skyway/conversations', undefined, session.token);
  assert(s3 === 200, `approved: the operator reads through the grant: ${s3}`);
  // Revoked from the same page: refused at once.
  await page.locator(`#grants tr[data-grant="${grant.id}"]`).getByRole('button', { name: 'Revoke' }).click();
  await eventually(async () => (await page.locator(`#grants tr[data-grant="${grant.id}"]`).innerText()).includes('revoked'), 'the grant to show revoked');
  const [s4] = await apiCall('GET', '/api/v1/operator/tenants/skyway/conversations', undefined, session.token);
  assert(s4 === 403, `revoked: refused: ${s4}`);
  await ctx.close();
});

await group('8 a second factor: the admin enrols an authenticator app, and sign-in then asks for its code', async () => {
  const ctx = await context();
  const page = await ctx.newPage();
  const a = await login(page, 'skyway', 'admin');
  await page.goto(cfg.console + '/console/admin');
  await page.locator('#mfa-state').filter({ hasText: 'password only' }).waitFor();
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  await page.locator('#mfa-enrol').waitFor({ state: 'visible' });
  const secret = await page.locator('#mfa-secret').inputValue();
  assert((await page.locator('#mfa-uri').inputValue()).startsWith('otpauth://totp/'), 'an otpauth URI for the app');
  await page.locator('#mfa-h').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(ART, 'totp-enrol.png'), animations: 'disabled' });
  await page.getByLabel('Code', { exact: true }).fill('000000' === totp(secret) ? '111111' : '000000');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#mfa-status.error').waitFor();
  await page.getByLabel('Code', { exact: true }).fill(totp(secret));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#mfa-status').filter({ hasText: 'confirmed' }).waitFor();
  assert(await page.locator('#mfa-secret').inputValue() === '', 'the secret leaves the page once confirmed');
  await page.screenshot({ path: join(ART, 'totp-enrolled.png'), animations: 'disabled' });
  // Signed out, the password alone no longer signs in: the console asks for the code.
  await page.goto(cfg.console + '/console');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#login-view').waitFor({ state: 'visible' });
  await page.getByLabel('Company (tenant)').fill(a.tenant);
  await page.getByLabel('Username').fill(a.username);
  await page.getByLabel('Password').fill(a.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#login-code-row').waitFor({ state: 'visible' });
  await page.screenshot({ path: join(ART, 'totp-login.png'), animations: 'disabled' });
  // The enrolment used this step's code: the app's next one.
  await page.getByLabel('Code from your authenticator app').fill(totp(secret, 1));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#app-view').waitFor({ state: 'visible' });
  await ctx.close();
});

await group('no uncaught script errors in any page or frame', async () => {
  assert(pageErrors.length === 0, pageErrors.join('\n'));
});

await browser.close();
attackerServer.close();
const failed = results.filter((r) => !r.ok);
console.log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
