// Issue 15, the card vault, driven from run.mjs with its helpers (`t`): an agent asks for a payment in the
// console, the visitor pays in the vault's form (its own origin, framed sandboxed inside the widget frame),
// both sides see "Visa •••• 1111 saved", and a payments key forwards the token to the demo's processor.
// Checked on the way: the widget frame cannot read the vault form, the store's page cannot read either, and
// neither socket (the agent's nor the visitor's) nor the console's page ever holds the number. Screenshots at
// 1280×800 and 390×844. crates/cordon/tests/browser.rs then scans the database files and the log.
import { join } from 'node:path';

const DIGITS = '4111111111111111';
const LEAK = /4111[\s-]?1111[\s-]?1111[\s-]?1111/;
const PHONE390 = { width: 390, height: 844 };

/** Save the card and wait for the chat's mask, or fail with what the vault form said. */
async function saveCard(vault, frame, mask, eventually) {
  await vault.getByRole('button', { name: 'Save card' }).click();
  await eventually(async () => {
    if (await frame.locator('.sys.paid', { hasText: mask }).count()) return true;
    const err = vault.locator('#error');
    if (await err.isVisible()) throw new Error('the vault form said: ' + await err.innerText());
    return false;
  }, `"${mask} saved" in the chat`);
}

/** What a script in `target` (a page or frame) gets when it reaches for the vault form's card number. */
function reach(target, path) {
  return target.evaluate((path) => {
    try {
      let w = window;
      for (const step of path) w = step === 'parent' ? w.parent : w.frames[step];
      const doc = w.document;
      const n = doc.getElementById('number');
      return 'READ:' + (n ? n.value : doc.body.innerText);
    } catch (e) {
      return 'blocked:' + e.name;
    }
  }, path);
}

async function apiLogin(cfg, account) {
  const res = await fetch(cfg.console + '/api/v1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: cfg.console },
    body: JSON.stringify({ tenant: account.tenant, username: account.username, password: account.password }),
  });
  if (res.status !== 200) throw new Error(`admin login: ${res.status}`);
  return res.headers.get('set-cookie').split(';')[0];
}

export async function vaultTests(t) {
  const { group, context, login, setStatus, openStore, openWidget, chatFrame, say, eventually, assert, account, closeAll, cfg, ART, DESKTOP } = t;

  await group('15 card vault: the agent asks, the visitor pays in the vault form, only the mask reaches the chat', async () => {
    assert(cfg.vault && cfg.vault.startsWith('http://127.0.0.4:'), `the demo runs the vault on its own loopback host: ${cfg.vault}`);
    const socketText = [];
    const record = (page) => page.on('websocket', (ws) => {
      ws.on('framereceived', (f) => socketText.push(String(f.payload)));
      ws.on('framesent', (f) => socketText.push(String(f.payload)));
    });

    const agentCtx = await context();
    const agent = await agentCtx.newPage();
    record(agent);
    await login(agent, 'skyway', 'agent');
    await closeAll(agent);
    await setStatus(agent, 'online');

    const visitorCtx = await context();
    const store = await openStore(visitorCtx, 'skyway');
    record(store);
    const frame = await openWidget(store);
    await say(frame, 'Please move my flight to Friday.');
    const item = agent.locator('.conv-item', { hasText: 'move my flight' }).first();
    await item.waitFor();
    await item.click();
    if (await agent.getByRole('button', { name: 'Accept' }).isVisible()) await agent.getByRole('button', { name: 'Accept' }).click();

    // The agent asks for the change fee.
    await agent.getByRole('button', { name: 'Request payment' }).click();
    await agent.getByLabel('Amount').fill('49.00');
    await agent.getByLabel('For').fill('Flight change fee');
    await agent.screenshot({ path: join(ART, 'vault-console-request-desktop.png'), animations: 'disabled' });
    await agent.getByRole('button', { name: 'Send request' }).click();
    await agent.locator('#transcript .sys', { hasText: 'Payment requested' }).waitFor();

    // The visitor sees the request and opens the vault form inside the chat.
    const request = frame.locator('.payreq', { hasText: 'EUR 49.00 for Flight change fee' });
    await request.waitFor();
    await request.getByRole('button', { name: 'Pay by card' }).click();
    const payframe = frame.locator('iframe.payframe');
    await payframe.waitFor();
    const [sandbox, src] = await payframe.evaluate((f) => [f.getAttribute('sandbox'), f.src]);
    assert(sandbox === 'allow-scripts allow-same-origin', `the vault frame is sandboxed: ${sandbox}`);
    assert(src.startsWith(cfg.vault + '/v/form/pr_'), `the form comes from the vault origin: ${src}`);
    const vault = frame.frameLocator('iframe.payframe');
    await vault.locator('#number').waitFor();
    // The capability left the form's address at once.
    const vaultFrame = (await chatFrame(store)).childFrames().find((f) => f.url().startsWith(cfg.vault));
    assert(vaultFrame, 'the vault frame is nested in the widget frame');
    assert(!vaultFrame.url().includes('#'), `the capability is removed from the address: ${vaultFrame.url()}`);

    // Live check as the card is typed: brand, Luhn.
    const number = vault.getByLabel('Card number');
    await number.pressSequentially('4111 1111 1111 1112', { delay: 8 });
    await vault.getByLabel('Name on card').focus();
    await vault.locator('#number-hint', { hasText: 'not a valid card number' }).waitFor();
    await number.fill('');
    await number.pressSequentially(DIGITS, { delay: 8 });
    await vault.locator('#brand', { hasText: 'Visa' }).waitFor();
    await vault.locator('#number-hint', { hasText: 'Visa card number looks right' }).waitFor();
    assert(await number.inputValue() === '4111 1111 1111 1111', 'grouped as typed');
    await vault.getByLabel('Expiry (MM/YY)').pressSequentially('1230');
    await vault.getByLabel('Security code').fill('123');
    await vault.getByLabel('Name on card').fill('Ada Lovelace');

    // While the number is in the form: the widget frame cannot read it, nor can the store's page.
    const widget = await chatFrame(store);
    const fromWidget = await reach(widget, [0]);
    assert(fromWidget.startsWith('blocked:'), `the widget frame read the vault form: ${fromWidget}`);
    const contentDoc = await widget.evaluate(() => String(document.querySelector('iframe.payframe').contentDocument));
    assert(contentDoc === 'null', `the widget frame gets no contentDocument of the vault: ${contentDoc}`);
    const fromPage = await reach(store.mainFrame(), [0, 0]);
    assert(fromPage.startsWith('blocked:'), `the store page read the vault form: ${fromPage}`);
    const widgetHtml = await widget.evaluate(() => document.documentElement.outerHTML);
    assert(!LEAK.test(widgetHtml), 'the widget frame holds no card number');
    // The vault page's policy: strict, framed only where the widget is.
    const res = await fetch(src.split('#')[0]);
    const csp = res.headers.get('content-security-policy');
    assert(csp.includes("default-src 'none'") && csp.includes("connect-src 'self'") && csp.includes('frame-ancestors ' + cfg.widget), `vault CSP: ${csp}`);
    await store.screenshot({ path: join(ART, 'vault-form-desktop.png'), animations: 'disabled' });

    await saveCard(vault, frame, 'Visa •••• 1111 saved', eventually);
    const saved = agent.locator('#transcript .sys', { hasText: /Visa •••• 1111 saved \(token tok_/ });
    await saved.waitFor();
    const tokenId = /token (tok_[A-Za-z0-9_-]{22})/.exec(await saved.innerText())[1];
    await eventually(async () => (await frame.locator('iframe.payframe').count()) === 0, 'the form to close');
    await store.screenshot({ path: join(ART, 'vault-saved-desktop.png'), animations: 'disabled' });
    await agent.screenshot({ path: join(ART, 'vault-console-saved-desktop.png'), animations: 'disabled' });
    await agent.setViewportSize(PHONE390);
    await agent.screenshot({ path: join(ART, 'vault-console-saved-phone.png'), animations: 'disabled' });
    await agent.setViewportSize(DESKTOP);

    // Neither socket nor the console's page ever carried the number.
    const sockets = socketText.join('\n');
    assert(socketText.length > 10, 'the sockets were recorded');
    assert(!LEAK.test(sockets), 'a socket carried the card number');
    assert(sockets.includes('Visa •••• 1111 saved'), 'the sockets carried the mask');
    assert(!LEAK.test(await agent.content()), 'the console page holds the card number');

    // A payments key (made by the signed-in admin) forwards the token to the demo's processor.
    const cookie = await apiLogin(cfg, account('skyway', 'admin'));
    const made = await fetch(cfg.console + '/api/v1/apikeys', {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: cfg.console, cookie },
      body: JSON.stringify({ scopes: ['payments'] }),
    });
    assert(made.status === 201 || made.status === 200, `payments key: ${made.status}`);
    const key = (await made.json()).key;
    const auth = { authorization: 'Bearer ' + key, 'content-type': 'application/json' };
    const tokens = await (await fetch(cfg.console + '/api/v1/payments/tokens', { headers: auth })).json();
    assert(tokens.some((x) => x.id === tokenId && x.last4 === '1111' && x.brand === 'Visa'), 'the token is listed');
    assert(!LEAK.test(JSON.stringify(tokens)), 'the token list holds no number');
    const fwd = await fetch(cfg.console + `/api/v1/payments/tokens/${tokenId}/forward`, {
      method: 'POST', headers: auth, body: JSON.stringify({ reference: 'browser-test' }),
    });
    const answer = await fwd.json();
    assert(fwd.status === 200 && answer.status === 200 && answer.response.includes('approved') && answer.cvv_sent === true,
      `forward: ${fwd.status} ${JSON.stringify(answer)}`);
    assert(!LEAK.test(JSON.stringify(answer)), 'the forward answer holds no number');
    console.log(`     forwarded ${tokenId} to the demo processor`);
    // The admin pages show the processor and the tokens (brand and last four), desktop and phone.
    const adminCtx = await context();
    const admin = await adminCtx.newPage();
    await login(admin, 'skyway', 'admin');
    await admin.goto(cfg.console + '/console/admin');
    const section = admin.locator('#payments');
    await section.locator('#pay-tokens tr', { hasText: tokenId }).waitFor();
    assert(await section.locator('#pay-url').inputValue() !== '', 'the processor URL is shown');
    assert(!LEAK.test(await admin.content()), 'the admin page holds the card number');
    await section.scrollIntoViewIfNeeded();
    await section.screenshot({ path: join(ART, 'vault-admin-desktop.png'), animations: 'disabled' });
    await admin.setViewportSize(PHONE390);
    await section.scrollIntoViewIfNeeded();
    await section.screenshot({ path: join(ART, 'vault-admin-phone.png'), animations: 'disabled' });
    const [sw, iw] = await admin.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert(sw <= iw, `the admin page is wider than the phone: ${sw} > ${iw}`);
    await adminCtx.close();
    await agentCtx.close();
    await visitorCtx.close();
  });

  await group('15 card vault on a phone (390×844): the request, the form, the saved card', async () => {
    const agentCtx = await context();
    const agent = await agentCtx.newPage();
    await login(agent, 'skyway', 'agent');
    await closeAll(agent);
    await setStatus(agent, 'online');
    const phone = await context({ viewport: PHONE390, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const store = await openStore(phone, 'skyway');
    const frame = await openWidget(store);
    await say(frame, 'Can I pay for a seat upgrade here?');
    const item = agent.locator('.conv-item', { hasText: 'seat upgrade' }).first();
    await item.waitFor();
    await item.click();
    if (await agent.getByRole('button', { name: 'Accept' }).isVisible()) await agent.getByRole('button', { name: 'Accept' }).click();
    await agent.getByRole('button', { name: 'Request payment' }).click();
    await agent.getByLabel('Amount').fill('25');
    await agent.getByLabel('For').fill('Seat upgrade 14A');
    await agent.getByRole('button', { name: 'Send request' }).click();
    await frame.locator('.payreq', { hasText: 'EUR 25.00' }).getByRole('button', { name: 'Pay by card' }).click();
    const vault = frame.frameLocator('iframe.payframe');
    await vault.getByLabel('Card number').pressSequentially('5555555555554444', { delay: 5 });
    await vault.locator('#brand', { hasText: 'Mastercard' }).waitFor();
    await vault.getByLabel('Expiry (MM/YY)').pressSequentially('0829');
    await vault.getByLabel('Security code').fill('321');
    await vault.getByLabel('Name on card').fill('Grace Hopper');
    await store.screenshot({ path: join(ART, 'vault-form-phone.png'), animations: 'disabled' });
    const widget = await chatFrame(store);
    const [sw, iw] = await widget.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert(sw <= iw, `the widget with the vault form is wider than the phone: ${sw} > ${iw}`);
    await saveCard(vault, frame, 'Mastercard •••• 4444 saved', eventually);
    await store.screenshot({ path: join(ART, 'vault-saved-phone.png'), animations: 'disabled' });
    await agent.locator('#transcript .sys', { hasText: 'Mastercard •••• 4444 saved' }).waitFor();
    await closeAll(agent);
    await agentCtx.close();
    await phone.close();
  });
}
