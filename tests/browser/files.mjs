// Issue 20, item 5: files and images both ways, in Chromium, driven from run.mjs with its helpers (`t`). A
// visitor attaches a real PNG whose name holds a card number (masked) and whose tEXt chunk says where it was taken
// (gone); both sides show the thumbnail; the agent sends a text file the visitor saves from the widget; an SVG
// is refused with a notice; a download carries nosniff, the sandboxing CSP and Content-Disposition. Screenshots
// at 1280×800 and 390×844.
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

const PHONE390 = { width: 390, height: 844 };
const CARD = '4111 1111 1111 1111';
const SECRET = 'Taken at 48.8584N 2.2945E by Secret Person';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** A real 96×64 RGB PNG (a blue-to-orange gradient) with a tEXt chunk that must not survive the upload. */
function gradientPng() {
  const w = 96, h = 64;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = Math.round(29 + (249 - 29) * x / w);
      raw[o + 1] = Math.round(78 + (115 - 78) * y / h);
      raw[o + 2] = Math.round(216 - 200 * x / w);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('tEXt', Buffer.from('Comment\0' + SECRET, 'latin1')),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export async function filesTests(t) {
  const { group, context, login, setStatus, openStore, openWidget, chatFrame, say, bubbles, eventually, assert, closeAll, ART, DESKTOP } = t;

  await group('20 files and images both ways: thumbnails, a masked name, EXIF gone, saved from the widget, SVG refused', async () => {
    for (const [size, viewport, extra] of [['desktop', DESKTOP, {}], ['390', PHONE390, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 }]]) {
      const ctx = await context({ viewport, ...extra, acceptDownloads: true });
      const agent = await ctx.newPage();
      await login(agent, 'skyway', 'agent');
      await setStatus(agent, 'online');
      if (await agent.locator('#back').isVisible()) await agent.locator('#back').click();
      await closeAll(agent);
      if (await agent.locator('#back').isVisible()) await agent.locator('#back').click();
      const store = await openStore(ctx, 'skyway');
      const frame = await openWidget(store);
      await say(frame, `Files check ${size}: here is the photo`);
      await bubbles(frame, `Files check ${size}`).waitFor();
      const item = agent.locator('#mine .conv-item', { hasText: `Files check ${size}` });
      await item.waitFor();
      await item.click();

      // Visitor -> agent: a real PNG, a card number in its name, a secret in a text chunk.
      await frame.locator('#file').setInputFiles({ name: `receipt ${CARD}.png`, mimeType: 'image/png', buffer: gradientPng() });
      const vThumb = frame.locator('.msg.me .bubble.file img.thumb');
      await vThumb.waitFor();
      await eventually(async () => (await vThumb.evaluate((i) => i.complete && i.naturalWidth)) === 96, 'the widget thumbnail to load');
      const vName = await frame.locator('.msg.me .bubble.file .filelink').last().innerText();
      assert(!vName.includes(CARD) && vName.includes('1111'), `the widget shows the name masked: ${vName}`);
      const aThumb = agent.locator('#transcript .bubble.file img.thumb').last();
      await aThumb.waitFor();
      await eventually(async () => (await aThumb.evaluate((i) => i.complete && i.naturalWidth)) === 96, 'the console thumbnail to load');
      const link = agent.locator('#transcript .bubble.file .filelink').last();
      const aName = await link.innerText();
      assert(!aName.includes(CARD), `the console shows the name masked: ${aName}`);
      // What the console fetches: the stored PNG without its text chunk, with the headers of a download.
      const href = await link.getAttribute('href');
      const got = await agent.evaluate(async (u) => {
        const r = await fetch(u, { credentials: 'same-origin' });
        const b = new Uint8Array(await r.arrayBuffer());
        return {
          status: r.status, type: r.headers.get('content-type'), nosniff: r.headers.get('x-content-type-options'),
          csp: r.headers.get('content-security-policy'), disposition: r.headers.get('content-disposition'),
          text: Array.from(b).map((c) => String.fromCharCode(c)).join(''),
        };
      }, href);
      assert(got.status === 200 && got.type === 'image/png', `the image is served as PNG: ${got.status} ${got.type}`);
      assert(got.nosniff === 'nosniff' && got.csp === "default-src 'none'; sandbox", `download headers: ${JSON.stringify(got)}`);
      assert(/^inline; filename="/.test(got.disposition) && !got.disposition.includes(CARD), `disposition: ${got.disposition}`);
      assert(!got.text.includes('Secret Person') && !got.text.includes('tEXt') && got.text.includes('IDAT'), 'the text chunk is gone, the pixels stay');
      // (That an image opened as a page in a tab is a download is crates/cordon/tests/files.rs's: a script cannot
      // set Sec-Fetch-Dest.)

      // Agent -> visitor: a text file the visitor saves from the widget.
      await agent.locator('#file-input').setInputFiles({ name: 'invoice.txt', mimeType: 'text/plain', buffer: Buffer.from(`Invoice ${size}\nPaid with ${CARD}\n`) });
      const vLink = frame.locator('.msg.them .bubble.file .filelink', { hasText: 'invoice.txt' });
      await vLink.waitFor();
      const [download] = await Promise.all([store.waitForEvent('download'), vLink.click()]);
      assert(download.suggestedFilename() === 'invoice.txt', `saved as ${download.suggestedFilename()}`);
      const path = await download.path();
      const saved = (await import('node:fs')).readFileSync(path, 'utf8');
      assert(saved.includes(`Invoice ${size}`) && !saved.includes(CARD) && saved.includes('1111'), `the text file's card is masked: ${saved}`);

      // An SVG is refused, with the reason on screen; nothing of it is shown.
      await frame.locator('#file').setInputFiles({ name: 'logo.svg', mimeType: 'image/svg+xml', buffer: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>') });
      await frame.locator('.notice.warn', { hasText: 'Not sent' }).waitFor();
      assert(await frame.locator('.bubble.file', { hasText: 'logo.svg' }).count() === 0, 'the SVG is not in the chat');

      await store.screenshot({ path: join(ART, `issue20-files-widget-${size}.png`), animations: 'disabled' });
      await agent.bringToFront();
      await aThumb.scrollIntoViewIfNeeded();
      await agent.screenshot({ path: join(ART, `issue20-files-console-${size}.png`), animations: 'disabled' });
      const frameHandle = await chatFrame(store);
      const [sw, iw] = await frameHandle.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert(sw <= iw, `the widget with files is wider than its frame: ${sw} > ${iw}`);
      await ctx.close();
    }
  });
}
