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
async function noOverflow(t, target, label) {
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

  await group('20 unread counts follow the agent across consoles; the widget ends a closed chat on screen', async () => {
    const desk = await context();
    const phoneCtx = await context({ viewport: PHONE390, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const a = await desk.newPage();
    await login(a, 'skyway', 'agent');
    await setStatus(a, 'online');
    // Room for the chat below: earlier groups leave Sam's capacity taken.
    await t.closeAll(a);
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
