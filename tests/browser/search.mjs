// Issue 20, item 4: search of history by words in messages, in Chromium, driven from run.mjs with its helpers
// (`t`). A visitor writes; the agent finds the chat in History by a word of it, opens it from the hit, and a
// masked card's last four find nothing. Screenshots at 1280×800 and 390×844.
import { join } from 'node:path';

const PHONE390 = { width: 390, height: 844 };

export async function searchTests(t) {
  const { group, context, login, setStatus, openStore, openWidget, say, bubbles, eventually, assert, closeAll, ART, DESKTOP } = t;

  await group('20 search of history: a word finds the chat, the hit opens it, a masked card is not found', async () => {
    for (const [size, viewport, extra] of [['desktop', DESKTOP, {}], ['390', PHONE390, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 }]]) {
      const ctx = await context({ viewport, ...extra });
      const agent = await ctx.newPage();
      await login(agent, 'skyway', 'agent');
      await setStatus(agent, 'online');
      if (await agent.locator('#back').isVisible()) await agent.locator('#back').click();
      await closeAll(agent);
      if (await agent.locator('#back').isVisible()) await agent.locator('#back').click();
      const word = `Pelican${size}`;
      const store = await openStore(ctx, 'skyway');
      const frame = await openWidget(store);
      await say(frame, `Where is my parcel ${word}-77? I paid with 4111 1111 1111 1111`);
      await bubbles(frame, word).waitFor();
      await agent.locator('#mine .conv-item', { hasText: word }).waitFor();
      await agent.getByRole('tab', { name: 'History' }).click();
      await agent.getByLabel('Words in messages').fill(word.toLowerCase());
      await agent.locator('#history-form').getByRole('button', { name: 'Search' }).click();
      const hit = agent.locator('#history .conv-item.hit', { hasText: `${word}-77` });
      await hit.waitFor();
      assert(await agent.locator('#history .conv-item.hit').count() === 1, 'one hit');
      const snippet = await hit.innerText();
      assert(!snippet.includes('4111 1111') && snippet.includes('1111'), `the snippet shows the mask: ${snippet}`);
      await agent.locator('#history-note', { hasText: 'Searched' }).waitFor();
      await agent.screenshot({ path: join(ART, `issue20-search-${size}.png`), animations: 'disabled' });
      await hit.click();
      await bubbles(agent.locator('#transcript'), `${word}-77`).waitFor();
      if (await agent.locator('#back').isVisible()) await agent.locator('#back').click();
      // The mask's last four find nothing.
      await agent.getByLabel('Words in messages').fill('1111');
      await agent.locator('#history-form').getByRole('button', { name: 'Search' }).click();
      await agent.locator('#history-note', { hasText: 'Searched' }).waitFor();
      await eventually(async () => (await agent.locator('#history .conv-item.hit').count()) === 0, 'no hit for 1111');
      await ctx.close();
    }
  });
}
