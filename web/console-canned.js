// Canned replies in the console's composer (issue 20): type "/" and a few letters, pick a stock answer with the
// arrow keys and Enter (or Tab, or a click), edit it and send it as any reply. The list comes from
// GET /api/v1/canned-replies (card numbers already masked there). Loaded before console.js, so its key handler
// runs first and keeps Enter from sending while the list is open.
(function () {
  'use strict';
  var C = Cordon, h = C.h, $ = C.$;
  var replies = null;     // the tenant's canned replies, once loaded
  var loadedAt = 0;
  var matches = [];
  var active = -1;

  function box() { return $('reply'); }
  function pop() { return $('canned-pop'); }

  function load() {
    if (replies && Date.now() - loadedAt < 60000) return Promise.resolve(replies);
    return C.api('GET', '/api/v1/canned-replies').then(function (list) {
      replies = list || [];
      loadedAt = Date.now();
      return replies;
    }, function () { replies = replies || []; return replies; });
  }

  /** The query when the reply box holds only "/word" (a canned reply is asked for), else null. */
  function query() {
    var m = /^\/([a-z0-9_-]*)$/i.exec(box().value);
    return m ? m[1].toLowerCase() : null;
  }

  function close() {
    var p = pop();
    if (!p) return;
    p.hidden = true;
    C.clear(p);
    matches = [];
    active = -1;
    box().removeAttribute('aria-activedescendant');
  }

  function render() {
    var p = pop();
    C.clear(p);
    if (!matches.length) {
      p.appendChild(h('li', { class: 'canned-none', text: replies && replies.length ? 'No canned reply matches.' : 'No canned replies yet (admins add them in Admin).' }));
    }
    matches.forEach(function (r, i) {
      p.appendChild(h('li', {
        id: 'canned-' + i, role: 'option', class: 'canned-opt' + (i === active ? ' active' : ''),
        'aria-selected': i === active ? 'true' : 'false',
        onmousedown: function (ev) { ev.preventDefault(); choose(i); }
      }, h('span', { class: 'canned-key', text: '/' + r.shortcut }), h('span', { class: 'canned-text', text: r.text })));
    });
    p.hidden = false;
    if (active >= 0) box().setAttribute('aria-activedescendant', 'canned-' + active);
    else box().removeAttribute('aria-activedescendant');
  }

  function update() {
    var q = query();
    if (q === null) { close(); return; }
    load().then(function (list) {
      if (query() !== q) return;
      matches = list.filter(function (r) {
        return r.shortcut.indexOf(q) === 0 || (q.length > 1 && r.text.toLowerCase().indexOf(q) >= 0);
      }).slice(0, 8);
      active = matches.length ? 0 : -1;
      render();
    });
  }

  function choose(i) {
    var r = matches[i];
    if (!r) return;
    var b = box();
    b.value = r.text;
    close();
    b.focus();
    b.setSelectionRange(b.value.length, b.value.length);
    // As if typed: the typing indicator and anything else that follows the box see it.
    b.dispatchEvent(new Event('input', { bubbles: true }));
  }

  document.addEventListener('DOMContentLoaded', function () {
    var b = box();
    var form = $('composer');
    if (!b || !form) return;
    form.appendChild(h('ul', { id: 'canned-pop', class: 'canned-pop', role: 'listbox', 'aria-label': 'Canned replies', hidden: true }));
    b.setAttribute('aria-controls', 'canned-pop');
    b.addEventListener('input', update);
    b.addEventListener('blur', function () { setTimeout(close, 100); });
    b.addEventListener('keydown', function (ev) {
      if (pop().hidden) return;
      var handled = true;
      if (ev.key === 'ArrowDown' && matches.length) active = (active + 1) % matches.length;
      else if (ev.key === 'ArrowUp' && matches.length) active = (active - 1 + matches.length) % matches.length;
      else if ((ev.key === 'Enter' || ev.key === 'Tab') && !ev.shiftKey && active >= 0) { choose(active); }
      else if (ev.key === 'Escape') close();
      else handled = false;
      if (!handled) return;
      ev.preventDefault();
      ev.stopImmediatePropagation();
      if (!pop().hidden) render();
    });
  });
})();
