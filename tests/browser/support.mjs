// Issue 20 (the console and widget a support team expects), driven from run.mjs with its helpers (`t`), so this
// file adds groups without growing the harness. Each group saves screenshots at 1280×800 and 390×844.
import { join } from 'node:path';

export const PHONE390 = { width: 390, height: 844 };

/** Elements wider than the screen, outside any element that scrolls sideways on purpose. */
function overflowReport() {
  const iw = window.innerWidth;
  const scrollsSideways = (e) => {
    for (let p = e.parentElement; p; p = p.parentElement) {
      const ox = getComputedStyle(p).overflowX;
      if (ox === 'auto' || ox === 'scroll' || ox === 'hidden') return true;
    }
    return false;
  };
  const wide = Array.from(document.querySelectorAll('body *'))
    .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > iw + 1 && !scrollsSideways(e))
    .slice(0, 8)
    .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${String(e.className).replace(/ /g, '.')}:${Math.round(e.getBoundingClientRect().right)}`);
  // A table wider than its scroller is cut off on a phone: its last columns need a sideways swipe nobody sees.
  const cut = Array.from(document.querySelectorAll('.table-wrap'))
    .filter((w) => w.getClientRects().length && w.scrollWidth > w.clientWidth + 1)
    .slice(0, 8)
    .map((w) => `${w.closest('section') ? w.closest('section').getAttribute('aria-labelledby') : '?'}:${w.scrollWidth}>${w.clientWidth}`);
  return { sw: document.documentElement.scrollWidth, iw, wide, cut };
}

/** Fail if `target` (a page or frame) scrolls sideways or holds a cut-off table. */
export async function noOverflow(t, target, label) {
  const r = await target.evaluate(overflowReport);
  t.assert(r.sw <= r.iw && r.wide.length === 0, `${label} is wider than ${r.iw} px (${r.sw}): ${r.wide.join(', ')}`);
  t.assert(r.cut.length === 0, `${label} has tables cut off: ${r.cut.join(', ')}`);
}

/** The rows a set of elements occupies: elements whose vertical extents overlap share a row. */
async function rows(page, selector) {
  const spans = await page.locator(selector).evaluateAll((els) => els
    .filter((e) => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
    .map((e) => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; }));
  let n = 0;
  let end = -Infinity;
  for (const [top, bottom] of spans.sort((a, b) => a[0] - b[0])) {
    if (top >= end - 2) { n += 1; end = bottom; } else end = Math.max(end, bottom);
  }
  return n;
}

/** Close every chat of the signed-in agent (accepting queued ones first), on a phone too, where an open chat hides
 *  the list: run.mjs's closeAll, going back to the list before each step. */
export async function closeMine(page, eventually) {
  for (let i = 0; i < 12; i++) {
    if (await page.locator('#back').isVisible()) await page.locator('#back').click();
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
      break;
    }
  }
  if (await page.locator('#back').isVisible()) await page.locator('#back').click();
}

export async function supportTests(t) {
  const { group, context, login, setStatus, openStore, openWidget, chatFrame, say, bubbles, eventually, assert, cfg, ART, DESKTOP } = t;

  await group('20 no 401 while the console looks for a session; none after signing out', async () => {
    const ctx = await context();
    const page = await ctx.newPage();
    const refused = [];
    page.on('response', (r) => { if (r.status() === 401) refused.push(r.url()); });
    page.on('console', (m) => { if (/401|Unauthorized/.test(m.text())) refused.push('console: ' + m.text()); });
    await page.goto(cfg.console + '/console');
    await page.locator('#login-view').waitFor({ state: 'visible' });
    await page.waitForTimeout(300);
    assert(refused.length === 0, `a fresh console load was refused: ${refused.join(', ')}`);
    await login(page, 'skyway', 'agent');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#login-view').waitFor({ state: 'visible' });
    await page.reload();
    await page.locator('#login-view').waitFor({ state: 'visible' });
    await page.waitForTimeout(300);
    assert(refused.length === 0, `a load after signing out was refused: ${refused.join(', ')}`);
    await ctx.close();
  });

  await group('20 the launcher covers nothing of the demo stores on a phone; data-position puts it on the left', async () => {
    for (const [size, viewport, extra] of [['desktop', DESKTOP, {}], ['390', PHONE390, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 }]]) {
      const ctx = await context({ viewport, ...extra });
      for (const tenant of ['skyway', 'voltmart']) {
        const store = await openStore(ctx, tenant);
        const launcher = store.getByRole('button', { name: /^Open chat/ });
        await launcher.waitFor();
        const box = await launcher.boundingBox();
        if (tenant === 'voltmart') assert(box.x < viewport.width / 2, `voltmart's launcher is on the left: ${JSON.stringify(box)}`);
        else assert(box.x > viewport.width / 2, `skyway's launcher is on the right: ${JSON.stringify(box)}`);
        // Wherever the card field is on screen, the launcher lies over no field, label, button or text.
        for (const block of ['end', 'center', 'start']) {
          await store.locator('#cc-number').evaluate((e, b) => e.scrollIntoView({ block: b }), block);
          await store.waitForTimeout(50);
          const b = await launcher.boundingBox();
          const hits = await store.evaluate((lb) => {
            // What would be seen where the launcher is, with the launcher (the loader's shadow host) out of the way:
            // content scrolled under the store's own opaque bar is not the launcher's doing.
            const host = Array.from(document.body.children).find((e) => e.shadowRoot);
            host.style.visibility = 'hidden';
            const seen = Array.from(document.querySelectorAll('input, label, button, p, dt, dd, h1, h2, a'))
              .filter((e) => e.getClientRects().length)
              .filter((e) => { const r = e.getBoundingClientRect(); return r.x < lb.x + lb.width && lb.x < r.right && r.y < lb.y + lb.height && lb.y < r.bottom; })
              .filter((e) => {
                const r = e.getBoundingClientRect();
                const x = Math.min(r.right - 1, Math.max(r.x + 1, lb.x + lb.width / 2));
                const y = Math.min(r.bottom - 1, Math.max(r.y + 1, lb.y + lb.height / 2));
                const top = document.elementFromPoint(x, y);
                return top === e || e.contains(top);
              })
              .map((e) => e.tagName + '#' + e.id + '.' + e.className);
            host.style.removeProperty('visibility');
            return seen;
          }, b);
          if (size === '390') assert(hits.length === 0, `${tenant} at 390 px, card field at ${block}: the launcher covers ${hits.join(', ')}`);
        }
        await store.locator('#cc-number').evaluate((e) => e.scrollIntoView({ block: 'end' }));
        await store.screenshot({ path: join(ART, `issue20-store-${tenant}-${size}.png`), animations: 'disabled' });
        await store.close();
      }
      await ctx.close();
    }
  });

  await group('20 phone layouts: no page scrolls sideways at 390 px, no table is cut off, headers keep to their rows', async () => {
    for (const [size, viewport, extra] of [['desktop', DESKTOP, {}], ['390', PHONE390, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 }]]) {
      const ctx = await context({ viewport, ...extra });
      const store = await openStore(ctx, 'skyway');
      await noOverflow(t, store, `store at ${size}`);
      const frame = await openWidget(store);
      await say(frame, 'Layout check: can I change my seat?');
      await bubbles(frame, 'change my seat').waitFor();
      await noOverflow(t, await chatFrame(store), `widget at ${size}`);
      const page = await ctx.newPage();
      await page.goto(cfg.console + '/console');
      await page.locator('#login-view').waitFor({ state: 'visible' });
      await noOverflow(t, page, `console sign-in at ${size}`);
      await login(page, 'skyway', 'agent');
      await setStatus(page, 'online');
      await noOverflow(t, page, `console lists at ${size}`);
      const bar = await rows(page, '.bar > :not(.spacer):not(h1)');
      assert(bar === 1, `the console header takes ${bar} rows at ${size}`);
      const item = page.locator('.conv-item', { hasText: 'change my seat' }).first();
      await item.waitFor();
      await item.click();
      if (await page.getByRole('button', { name: 'Accept' }).isVisible()) await page.getByRole('button', { name: 'Accept' }).click();
      await page.getByLabel('Reply').waitFor();
      await noOverflow(t, page, `console chat at ${size}`);
      const actions = await rows(page, '.actions > :not(label)');
      assert(actions === 1, `the chat's actions take ${actions} rows at ${size}`);
      const head = await rows(page, '.conv-head > *');
      assert(head <= 2, `the chat's header takes ${head} rows at ${size}`);
      await page.screenshot({ path: join(ART, `issue20-console-chat-${size}.png`), animations: 'disabled' });
      await page.keyboard.press('Alt+C');
      // On a phone the list is behind the conversation: back to it first.
      if (await page.locator('#back').isVisible()) await page.locator('#back').click();
      await page.getByRole('tab', { name: 'History' }).click();
      await page.locator('#history .conv-item').first().waitFor();
      await noOverflow(t, page, `console history at ${size}`);
      const admin = await ctx.newPage();
      await login(admin, 'skyway', 'admin');
      await admin.goto(cfg.console + '/console/admin');
      await admin.locator('#agents tr').first().waitFor();
      await admin.locator('#sessions tr').first().waitFor();
      await admin.locator('#t-files tr').first().waitFor();
      await noOverflow(t, admin, `admin at ${size}`);
      const adminBar = await rows(admin, '.bar > :not(.spacer)');
      assert(adminBar === 1, `the admin header takes ${adminBar} rows at ${size}`);
      await admin.screenshot({ path: join(ART, `issue20-admin-${size}.png`), fullPage: true });
      await admin.locator('#agents-h').evaluate((e) => { e.scrollIntoView(); window.scrollBy(0, -70); });
      await admin.screenshot({ path: join(ART, `issue20-admin-agents-${size}.png`) });
      await ctx.close();
    }
  });

  await group('20 who the visitor is: the side panel shows page, browser, local time and past conversations', async () => {
    for (const [size, viewport, extra] of [['desktop', DESKTOP, {}], ['390', PHONE390, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 }]]) {
      const ctx = await context({ viewport, ...extra, timezoneId: 'Europe/Lisbon' });
      const agent = await ctx.newPage();
      await login(agent, 'skyway', 'agent');
      await setStatus(agent, 'online');
      await closeMine(agent, eventually);
      if (await agent.locator('#back').isVisible()) await agent.locator('#back').click();
      const store = await openStore(ctx, 'skyway');
      const frame = await openWidget(store);
      // An earlier chat of this visitor, closed by the agent; then the one the panel is opened on.
      await say(frame, `Panel check ${size}: earlier question`);
      const earlier = agent.locator('#mine .conv-item', { hasText: `Panel check ${size}: earlier` });
      await earlier.waitFor();
      await earlier.click();
      await agent.getByRole('button', { name: 'Close chat' }).click();
      await frame.getByRole('button', { name: 'Start a new chat' }).click();
      await say(frame, `Panel check ${size}: where is my bag?`);
      if (await agent.locator('#back').isVisible()) await agent.locator('#back').click();
      // This size's chat: the other size's may still be listed (closeMine can run before the list has loaded).
      const item = agent.locator('#mine .conv-item', { hasText: `Panel check ${size}: where is my bag` });
      await item.waitFor();
      await item.click();
      if (await agent.locator('#vp-toggle').isVisible()) {
        await agent.locator('#vp-toggle').click();
      }
      const facts = agent.locator('#vp-facts');
      await facts.getByText('Checkout · Skyway Airlines (demo)').waitFor();
      const text = await facts.innerText();
      assert(text.includes(cfg.stores.skyway + '/'), `the page address: ${text}`);
      assert(/Chrome \d+ on Linux/.test(text), `browser and system: ${text}`);
      assert(/Europe\/Lisbon/.test(text), `local time with the zone: ${text}`);
      assert(/Not verified/.test(text), `an anonymous visitor is said to be so: ${text}`);
      await agent.locator('#vp-past .conv-item').first().waitFor();
      assert(await agent.locator('#vp-past .conv-item').count() === 1, 'one past conversation');
      await noOverflow(t, agent, `console with the visitor panel at ${size}`);
      await agent.screenshot({ path: join(ART, `issue20-visitor-panel-${size}.png`), animations: 'disabled' });
      // A past conversation opens as history.
      await agent.locator('#vp-past .conv-item').first().click();
      await bubbles(agent.locator('#transcript'), 'earlier question').waitFor();
      await ctx.close();
    }
  });

  await group('20 canned replies: an admin adds one (a card in it masked), an agent picks it with "/" and sends it', async () => {
    const CARD = '4111 1111 1111 1111';
    for (const [size, viewport, extra] of [['desktop', DESKTOP, {}], ['390', PHONE390, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 }]]) {
      const ctx = await context({ viewport, ...extra });
      const admin = await ctx.newPage();
      await login(admin, 'skyway', 'admin');
      await admin.goto(cfg.console + '/console/admin');
      const shortcut = `bag${size}`;
      await admin.locator('#canned tr').first().waitFor();
      await admin.getByLabel('Shortcut').fill(shortcut);
      await admin.getByLabel('Text', { exact: true }).fill(`A checked bag (23 kg) is £35. Card on file: ${CARD}.`);
      await admin.getByRole('button', { name: 'Add canned reply' }).click();
      const row = admin.locator('#canned tr', { hasText: '/' + shortcut });
      await row.waitFor();
      const rowText = await row.innerText();
      assert(!rowText.includes(CARD) && rowText.includes('1111'), `the card in a canned reply is masked: ${rowText}`);
      await noOverflow(t, admin, `admin with canned replies at ${size}`);
      await admin.locator('#canned-h').evaluate((e) => { e.scrollIntoView(); window.scrollBy(0, -70); });
      await admin.screenshot({ path: join(ART, `issue20-canned-admin-${size}.png`), animations: 'disabled' });

      // The agent in a browser of its own: one browser holds one console session (the admin's above).
      const agentCtx = await context({ viewport, ...extra });
      const agent = await agentCtx.newPage();
      await login(agent, 'skyway', 'agent');
      await setStatus(agent, 'online');
      await closeMine(agent, eventually);
      if (await agent.locator('#back').isVisible()) await agent.locator('#back').click();
      const store = await openStore(ctx, 'skyway');
      const frame = await openWidget(store);
      await say(frame, `Canned check ${size}: how much is a bag?`);
      const item = agent.locator('#mine .conv-item', { hasText: `Canned check ${size}` });
      await item.waitFor();
      await item.click();
      const reply = agent.getByLabel('Reply');
      await reply.click();
      await reply.pressSequentially('/' + shortcut.slice(0, 4), { delay: 20 });
      const opt = agent.locator('#canned-pop .canned-opt', { hasText: '/' + shortcut });
      await opt.waitFor();
      await agent.screenshot({ path: join(ART, `issue20-canned-composer-${size}.png`), animations: 'disabled' });
      // Enter picks it (and does not send "/bag"); a second Enter sends it.
      await agent.locator('#canned-pop .canned-opt.active', { hasText: '/' + shortcut }).waitFor().catch(async () => {
        while (!(await agent.locator('#canned-pop .canned-opt.active', { hasText: '/' + shortcut }).count())) await reply.press('ArrowDown');
      });
      await reply.press('Enter');
      const value = await reply.inputValue();
      assert(value.startsWith('A checked bag') && !value.includes(CARD), `the canned text fills the box: ${value}`);
      await reply.press('Enter');
      await bubbles(frame, 'A checked bag (23 kg)').waitFor();
      const seen = await frame.locator('.bubble', { hasText: 'A checked bag' }).last().textContent();
      assert(!seen.includes(CARD), `the visitor sees a masked card: ${seen}`);
      // Delete it again, so the next size adds its own.
      await admin.bringToFront();
      await admin.getByRole('button', { name: 'Delete canned reply /' + shortcut }).click();
      await eventually(async () => (await admin.locator('#canned tr', { hasText: '/' + shortcut }).count()) === 0,
        'the canned reply deleted').catch(async (e) => {
        throw new Error(`${e.message}; the page says: ${await admin.locator('#canned-status').textContent()}`);
      });
      await agentCtx.close();
      await ctx.close();
    }
  });

  await group('20 internal notes, tags and priority: agents only, a card masked, history filtered by tag', async () => {
    const CARD = '4111 1111 1111 1111';
    for (const [size, viewport, extra] of [['desktop', DESKTOP, {}], ['390', PHONE390, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 }]]) {
      const ctx = await context({ viewport, ...extra });
      const agent = await ctx.newPage();
      await login(agent, 'skyway', 'agent');
      await setStatus(agent, 'online');
      await closeMine(agent, eventually);
      if (await agent.locator('#back').isVisible()) await agent.locator('#back').click();
      const store = await openStore(ctx, 'skyway');
      const frame = await openWidget(store);
      await say(frame, `Notes check ${size}: my refund?`);
      const item = agent.locator('#mine .conv-item', { hasText: `Notes check ${size}` });
      await item.waitFor();
      await item.click();
      if (await agent.locator('#vp-toggle').isVisible()) await agent.locator('#vp-toggle').click();
      // The same agent's other device shows the same chat: the note and the tags reach it live.
      const otherCtx = await context({ viewport, ...extra });
      const other = await otherCtx.newPage();
      await login(other, 'skyway', 'agent');
      if (await other.locator('#back').isVisible()) await other.locator('#back').click();
      await other.locator('#mine .conv-item', { hasText: `Notes check ${size}` }).click();
      if (await other.locator('#vp-toggle').isVisible()) await other.locator('#vp-toggle').click();
      await other.locator('#vp-notes-empty').waitFor();
      await agent.getByLabel('Add a note').fill(`Refund approved by phone; card ${CARD} on file.`);
      await agent.getByRole('button', { name: 'Add note' }).click();
      const note = agent.locator('#vp-notes .vp-note', { hasText: 'Refund approved' });
      await note.waitFor();
      const noteText = await note.innerText();
      assert(!noteText.includes(CARD) && noteText.includes('1111'), `the card in a note is masked: ${noteText}`);
      assert(await agent.locator('#vp-notes .vp-note').count() === 1, 'the note is listed once where it was written');
      await other.locator('#vp-notes .vp-note', { hasText: 'Refund approved' }).waitFor();
      const tag = `vip${size}`;
      await agent.locator('#vp-tags').fill(`${tag}, refund`);
      await agent.locator('#vp-priority').selectOption('high');
      await agent.getByRole('button', { name: 'Save tags and priority' }).click();
      await agent.locator('#vp-meta-status', { hasText: 'Saved' }).waitFor();
      await eventually(async () => (await other.locator('#vp-priority').inputValue()) === 'high'
        && (await other.locator('#vp-tags').inputValue()).includes(tag), 'the tags and priority on the other device');
      await otherCtx.close();
      await agent.locator('#vp-note-form').scrollIntoViewIfNeeded();
      await agent.screenshot({ path: join(ART, `issue20-notes-${size}.png`), animations: 'disabled' });
      // The visitor never sees it.
      await store.waitForTimeout(300);
      assert(!(await (await chatFrame(store)).content()).includes('Refund approved'), 'a note reached the widget');
      // History by tag.
      if (await agent.locator('#back').isVisible()) await agent.locator('#back').click();
      await agent.getByRole('tab', { name: 'History' }).click();
      await agent.locator('#h-tag').fill(tag);
      await agent.locator('#h-priority').selectOption('high');
      await agent.locator('#history-form').getByRole('button', { name: 'Search' }).click();
      // The list shown before (all history) is replaced by the filtered one.
      await eventually(async () => (await agent.locator('#history .conv-item').count()) === 1,
        `history by tag ${tag} to list one conversation`);
      await noOverflow(t, agent, `console history by tag at ${size}`);
      await agent.screenshot({ path: join(ART, `issue20-history-by-tag-${size}.png`), animations: 'disabled' });
      await ctx.close();
    }
  });

  await group('20 audit log viewer: the checkpoint signature and an entry\'s inclusion proof checked in the browser', async () => {
    for (const [size, viewport, extra] of [['desktop', DESKTOP, {}], ['390', PHONE390, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 }]]) {
      const ctx = await context({ viewport, ...extra });
      const admin = await ctx.newPage();
      await login(admin, 'skyway', 'admin');
      await admin.goto(cfg.console + '/console/admin');
      await admin.locator('#agents tr').first().waitFor();
      await admin.getByRole('button', { name: 'Show the audit log' }).click();
      await admin.locator('#au-checkpoint', { hasText: 'valid (Ed25519' }).waitFor().catch(async (e) => {
        throw new Error(`${e.message}; the page says: ${await admin.locator('#au-status').textContent()} / ${await admin.locator('#au-checkpoint').textContent()}`);
      });
      await admin.locator('#au-entries tr').first().waitFor();
      await admin.locator('#au-action').selectOption('login.success');
      const rows = admin.locator('#au-entries tr');
      const n = await rows.count();
      assert(n > 0 && (await rows.allInnerTexts()).every((r) => r.includes('login.success')), `the action filter: ${n}`);
      const first = rows.first();
      await first.getByRole('button', { name: /^Verify entry/ }).click();
      await first.locator('.au-result.ok', { hasText: 'in the signed log' }).waitFor();
      await noOverflow(t, admin, `admin with the audit log at ${size}`);
      await admin.locator('#audit-h').evaluate((e) => { e.scrollIntoView(); window.scrollBy(0, -70); });
      await admin.screenshot({ path: join(ART, `issue20-audit-viewer-${size}.png`), animations: 'disabled' });
      await ctx.close();
    }
  });

  await group('20 an auditor opens the admin pages: the reports and the audit log viewer, no settings', async () => {
    for (const [size, viewport, extra] of [['desktop', DESKTOP, {}], ['390', PHONE390, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 }]]) {
      const ctx = await context({ viewport, ...extra });
      const page = await ctx.newPage();
      await login(page, 'skyway', 'auditor');
      assert(await page.locator('#admin-link').isVisible(), 'the console links an auditor to the admin pages');
      await page.goto(cfg.console + '/console/admin');
      await page.locator('#auditor-note').waitFor();
      assert(!(await page.locator('#denied').isVisible()), 'an auditor is not turned away');
      const shown = await page.locator('#admin > section').evaluateAll((ss) => ss.filter((s) => !s.hidden).map((s) => s.getAttribute('aria-labelledby')));
      assert(JSON.stringify(shown) === JSON.stringify(['reports-h', 'audit-h']), `an auditor sees: ${shown.join(', ')}`);
      await page.locator('#r-summary dt').first().waitFor();
      await page.getByRole('button', { name: 'Show the audit log' }).click();
      await page.locator('#au-checkpoint', { hasText: 'valid (Ed25519' }).waitFor();
      const first = page.locator('#au-entries tr').first();
      await first.getByRole('button', { name: /^Verify entry/ }).click();
      await first.locator('.au-result.ok', { hasText: 'in the signed log' }).waitFor();
      await noOverflow(t, page, `the auditor's admin page at ${size}`);
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: join(ART, `issue20-auditor-admin-${size}.png`), animations: 'disabled' });
      await ctx.close();
    }
  });

  await group('20 desktop notifications: after opting in, a new chat in a background tab notifies (never the visitor\'s text)', async () => {
    const ctx = await context();
    await ctx.grantPermissions(['notifications'], { origin: cfg.console });
    // Record what the console shows through the real API, and play a tab in the background.
    await ctx.addInitScript(() => {
      if (location.pathname !== '/console') return;
      window.__notes = [];
      const Real = window.Notification;
      window.Notification = new Proxy(Real, { construct(target, args) { window.__notes.push({ title: args[0], body: args[1] && args[1].body }); return new target(...args); } });
      document.hasFocus = () => false;
    });
    const agent = await ctx.newPage();
    await login(agent, 'skyway', 'agent');
    await setStatus(agent, 'online');
    await closeMine(agent, eventually);
    await agent.getByRole('button', { name: 'Notify off' }).click();
    await agent.getByRole('button', { name: 'Notify on' }).waitFor();
    await agent.screenshot({ path: join(ART, 'issue20-notify-desktop.png'), animations: 'disabled' });
    const store = await openStore(ctx, 'skyway');
    const frame = await openWidget(store);
    await say(frame, 'Notify check: secret order 7731');
    await agent.locator('#mine .conv-item', { hasText: 'Notify check' }).waitFor();
    const notes = await eventually(async () => {
      const n = await agent.evaluate(() => window.__notes);
      return n.length ? n : null;
    }, 'a desktop notification');
    assert(notes.some((n) => n.title === 'Cordon' && /New chat|New message/.test(n.body)), `notifications: ${JSON.stringify(notes)}`);
    assert(notes.every((n) => !String(n.body).includes('7731')), `a notification shows the visitor's text: ${JSON.stringify(notes)}`);
    await ctx.close();
    // On a phone the button is not offered (the header keeps to one row).
    const phone = await context({ viewport: PHONE390, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const p = await phone.newPage();
    await login(p, 'skyway', 'agent');
    assert(!(await p.locator('#notify').isVisible()), 'the Notify button on a phone');
    await p.screenshot({ path: join(ART, 'issue20-notify-390.png'), animations: 'disabled' });
    await phone.close();
  });

  await group('20 unread counts follow the agent across consoles; the widget ends a closed chat on screen', async () => {
    const desk = await context();
    const phoneCtx = await context({ viewport: PHONE390, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const a = await desk.newPage();
    await login(a, 'skyway', 'agent');
    await setStatus(a, 'online');
    // Room for the chat below: earlier groups leave Sam's capacity taken.
    await closeMine(a, eventually);
    const b = await phoneCtx.newPage();
    await login(b, 'skyway', 'agent');
    // The visitor on a phone writes three messages before either console opens the chat.
    const store = await openStore(phoneCtx, 'skyway');
    const frame = await openWidget(store);
    for (const text of ['Unread one', 'Unread two', 'Unread three']) {
      await say(frame, text);
      await bubbles(frame, text).waitFor();
    }
    await eventually(async () => (await frame.locator('.msg.me.pending').count()) === 0, 'the messages acknowledged');
    const badge = (p) => p.locator('#mine .conv-item', { hasText: 'Unread three' }).locator('.badge');
    await eventually(async () => ((await badge(b).textContent().catch(() => '')) || '').trim() === '3', 'three unread on the phone console');
    await eventually(async () => ((await badge(a).textContent().catch(() => '')) || '').trim() === '3', 'three unread on the desktop console');
    // Read on the desktop: the phone's count goes, live, and stays gone after a reload.
    await a.bringToFront();
    await a.locator('#mine .conv-item', { hasText: 'Unread three' }).click();
    await bubbles(a.locator('#transcript'), 'Unread three').waitFor();
    await eventually(async () => (await badge(b).count()) === 0, 'the phone console to drop the count');
    await b.reload();
    await b.locator('#mine .conv-item', { hasText: 'Unread three' }).waitFor();
    await b.waitForTimeout(500);
    assert(await badge(b).count() === 0, 'after a reload the phone console still counts them read');
    await b.screenshot({ path: join(ART, 'issue20-unread-shared-390.png'), animations: 'disabled' });
    await a.screenshot({ path: join(ART, 'issue20-unread-shared-desktop.png'), animations: 'disabled' });

    // Transfer lists only agents who are not offline (Ada, the admin, is offline here).
    const options = await a.locator('#transfer-to option').allTextContents();
    assert(options.every((o) => !/offline/.test(o)), `transfer offers offline agents: ${options.join(' | ')}`);

    // The agent closes it: the widget's composer goes, "Start a new chat" is on screen, not below the fold.
    await a.getByRole('button', { name: 'Close chat' }).click();
    await frame.locator('#ended').waitFor({ state: 'visible' });
    assert(!(await frame.locator('#composer').isVisible()), 'the composer stays active in a closed chat');
    const restart = frame.getByRole('button', { name: 'Start a new chat' });
    const inFrame = await (await chatFrame(store)).evaluate(() => {
      const r = document.getElementById('restart').getBoundingClientRect();
      return r.top >= 0 && r.bottom <= window.innerHeight;
    });
    assert(inFrame, '"Start a new chat" is below the fold');
    await store.screenshot({ path: join(ART, 'issue20-widget-ended-390.png'), animations: 'disabled' });
    await restart.click();
    await frame.locator('#composer').waitFor({ state: 'visible' });
    await say(frame, 'A follow-up question');
    await bubbles(frame, 'A follow-up question').waitFor();
    await eventually(async () => (await frame.locator('.msg.me.pending').count()) === 0, 'the follow-up acknowledged');
    await desk.close();
    await phoneCtx.close();
    // The desktop widget too.
    const ctx = await context();
    const s2 = await openStore(ctx, 'skyway');
    const f2 = await openWidget(s2);
    await say(f2, 'Desktop closing check');
    await bubbles(f2, 'Desktop closing check').waitFor();
    const agent = await ctx.newPage();
    await login(agent, 'skyway', 'agent');
    await setStatus(agent, 'online');
    const it = agent.locator('.conv-item', { hasText: 'Desktop closing check' }).first();
    await it.waitFor();
    await it.click();
    if (await agent.getByRole('button', { name: 'Accept' }).isVisible()) await agent.getByRole('button', { name: 'Accept' }).click();
    await agent.getByRole('button', { name: 'Close chat' }).click();
    await f2.locator('#ended').waitFor({ state: 'visible' });
    await s2.bringToFront();
    await s2.screenshot({ path: join(ART, 'issue20-widget-ended-desktop.png'), animations: 'disabled' });
    await ctx.close();
  });
}
