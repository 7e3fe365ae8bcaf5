/*! Cordon chat loader: reads its own data-* attributes and the page's path and title. docs/EMBEDDING.md */
(function () {
  'use strict';
  var me = document.currentScript;
  if (!me || !me.src) return;
  var data = me.dataset;
  var key = data.widgetKey;
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(key || '')) return;
  var origin = new URL(me.src).origin;
  var doc = document;
  var isOpen = false;
  var height = 600;
  var phone = window.matchMedia('(max-width: 480px)');
  var side = data.position == 'left' ? 'left' : 'right';
  var oy = Math.min(400, Math.abs(data.offset | 0 || 20));

  function el(tag, css) {
    var e = doc.createElement(tag);
    e.style.cssText = css;
    return e;
  }
  function svg(d) {
    var ns = 'http://www.w3.org/2000/svg';
    var s = doc.createElementNS(ns, 'svg');
    var p = doc.createElementNS(ns, 'path');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('width', '28');
    s.setAttribute('height', '28');
    s.setAttribute('aria-hidden', 'true');
    p.setAttribute('fill', 'currentColor');
    p.setAttribute('d', d);
    s.appendChild(p);
    return s;
  }

  var host = el('div', 'all:initial');
  var root = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
  var Z = 'position:fixed;z-index:2147483000;border:0;';
  var button = el('button', Z + side + ':20px;bottom:' + oy + 'px;width:60px;height:60px;border-radius:50%;' +
    'background:#1d4ed8;color:#fff;cursor:pointer;padding:0;align-items:center;justify-content:center;' +
    'box-shadow:0 4px 14px rgba(0,0,0,.3)');
  button.type = 'button';
  var chatIcon = svg('M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z');
  var closeIcon = svg('M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z');
  var badge = el('span', 'position:absolute;top:-2px;right:-2px;min-width:22px;height:22px;border-radius:11px;' +
    'background:#b91c1c;color:#fff;font:700 12px/22px system-ui,sans-serif;text-align:center;display:none');
  button.appendChild(chatIcon);
  button.appendChild(badge);

  var frame = el('iframe', Z + 'box-shadow:0 8px 30px rgba(0,0,0,.28);background:#fff;color-scheme:normal');
  frame.title = 'Chat';
  frame.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-forms allow-downloads');
  frame.setAttribute('allow', "camera 'none'; microphone 'none'; geolocation 'none'; payment 'none'; usb 'none'");
  frame.referrerPolicy = 'no-referrer';
  frame.src = origin + '/w/frame/' + encodeURIComponent(key);

  function post(msg) {
    msg.cordon = 1;
    if (frame.contentWindow) frame.contentWindow.postMessage(msg, origin);
  }
  function label(unread) {
    button.setAttribute('aria-label', (isOpen ? 'Close chat' : 'Open chat') +
      (unread ? ', ' + unread + ' unread' : ''));
  }
  function layout() {
    var full = phone.matches;
    var s = frame.style;
    s.display = isOpen ? 'block' : 'none';
    s.inset = full ? '0' : 'auto';
    if (!full) { s[side] = '20px'; s.bottom = oy + 72 + 'px'; }
    s.width = full ? '100%' : '380px';
    s.height = full ? '100%' : 'min(' + height + 'px, calc(100vh - ' + (oy + 92) + 'px))';
    s.borderRadius = full ? '0' : '14px';
    button.style.display = isOpen && full ? 'none' : 'flex';
  }
  function setOpen(open, fromFrame) {
    isOpen = open;
    button.setAttribute('aria-expanded', String(open));
    button.replaceChild(open ? closeIcon : chatIcon, open ? chatIcon : closeIcon);
    badge.style.display = 'none';
    label(0);
    layout();
    if (open) frame.focus();
    else if (fromFrame) button.focus();
    if (!fromFrame) post({ type: open ? 'open' : 'close' });
  }

  button.addEventListener('click', function () { setOpen(!isOpen, false); });
  frame.addEventListener('load', function () { post({ type: 'init', data: Object.assign({}, data), page: [location.origin + location.pathname, doc.title] }); });
  window.addEventListener('message', function (e) {
    var m = e.data;
    if (e.source !== frame.contentWindow || e.origin !== origin || !m || m.cordon !== 1) return;
    if (m.type === 'close' && isOpen) setOpen(false, true);
    if (m.type === 'open' && !isOpen) setOpen(true, true);
    if (m.type === 'resize' && m.height > 0) {
      height = Math.max(320, Math.min(720, m.height | 0));
      layout();
    }
    if (m.type === 'unread' && !isOpen) {
      var n = Math.max(0, Math.min(99, m.count | 0));
      badge.textContent = n;
      badge.style.display = n ? 'block' : 'none';
      label(n);
    }
  });
  phone.addEventListener('change', layout);

  button.setAttribute('aria-expanded', 'false');
  label(0);
  layout();
  root.appendChild(frame);
  root.appendChild(button);
  function mount() { (doc.body || doc.documentElement).appendChild(host); }
  if (doc.body) mount(); else doc.addEventListener('DOMContentLoaded', mount);
})();
