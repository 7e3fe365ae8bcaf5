// Canned replies in the admin pages (issue 20): the tenant's stock answers, added, changed and deleted here and
// typed as /shortcut in the console's composer. Text goes in as textContent.
(function () {
  'use strict';
  var C = Cordon, h = C.h, $ = C.$;
  var editing = null;   // id of the reply being changed, or null when adding

  function status(text, isError) {
    var s = $('canned-status');
    s.textContent = text;
    s.className = 'status-text' + (isError ? ' error' : '');
  }

  function reset() {
    editing = null;
    $('cr-shortcut').value = '';
    $('cr-text').value = '';
    $('cr-submit').textContent = 'Add canned reply';
    $('cr-cancel').hidden = true;
  }

  function load() {
    C.api('GET', '/api/v1/canned-replies').then(render, function (e) {
      if (e.status !== 401 && e.status !== 403) status(e.message, true);
    });
  }

  function render(list) {
    var tb = $('canned');
    C.clear(tb);
    if (!list.length) {
      tb.appendChild(h('tr', null, h('td', { colspan: '3', class: 'muted', text: 'No canned replies yet.' })));
    }
    list.forEach(function (r) {
      tb.appendChild(h('tr', { 'data-reply': r.id },
        h('td', { class: 'mono nowrap', text: '/' + r.shortcut }),
        h('td', { class: 'lines', text: r.text }),
        h('td', { class: 'nowrap' },
          h('button', { type: 'button', class: 'ghost', 'aria-label': 'Edit canned reply /' + r.shortcut, text: 'Edit',
            onclick: function () {
              editing = r.id;
              $('cr-shortcut').value = r.shortcut;
              $('cr-text').value = r.text;
              $('cr-submit').textContent = 'Save canned reply';
              $('cr-cancel').hidden = false;
              $('cr-text').focus();
            } }),
          ' ',
          h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete canned reply /' + r.shortcut, text: 'Delete',
            onclick: function () {
              C.api('DELETE', '/api/v1/canned-replies/' + encodeURIComponent(r.id)).then(function () {
                status('Deleted /' + r.shortcut + '.', false);
                if (editing === r.id) reset();
                load();
              }, function (e) { status(e.message, true); });
            } }))));
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var form = $('canned-form');
    if (!form) return;
    $('cr-cancel').addEventListener('click', function () { reset(); status('', false); });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var body = { shortcut: $('cr-shortcut').value, text: $('cr-text').value };
      var call = editing
        ? C.api('PUT', '/api/v1/canned-replies/' + encodeURIComponent(editing), body)
        : C.api('POST', '/api/v1/canned-replies', body);
      call.then(function () {
        status((editing ? 'Saved /' : 'Added /') + body.shortcut.replace(/^\//, '').toLowerCase() + '.', false);
        reset();
        load();
      }, function (e) { status(e.message, true); });
    });
    // Refused for non-admins (admin.js shows them the "Admins only" note instead).
    load();
  });
})();
