// Files and images in the console (issue 20). A file is a message "[file f_…] name (type, size)" from whoever
// sent it; here it becomes a thumbnail (images only, as an <img>: no script runs in an image) and a download
// link, both on this origin with the session cookie. The attach button sends a file into the selected chat
// (POST /api/v1/conversations/{id}/files); the server checks its type by its bytes, strips photo metadata and
// masks card numbers in its name, and the chat gets its message like any reply. Loaded before console.js.
(function () {
  'use strict';
  var C = Cordon, h = C.h, $ = C.$;
  var FILE_RE = /^\[file (f_[A-Za-z0-9_-]{22})\] (.+) \((image\/png|image\/jpeg|image\/gif|image\/webp|application\/pdf|text\/plain), ([0-9.]+ [KM]?B)\)$/;

  function url(m, id) {
    return '/api/v1/conversations/' + encodeURIComponent(m.conversation_id) + '/files/' + encodeURIComponent(id);
  }

  /** The bubble of a file message, or null for any other message. */
  function bubble(m) {
    if (!m || (m.sender.kind !== 'visitor' && m.sender.kind !== 'agent')) return null;
    var f = FILE_RE.exec(m.text || '');
    if (!f) return null;
    var id = f[1], name = f[2], type = f[3], size = f[4], href = url(m, id);
    var b = h('div', { class: 'bubble file', 'data-file': id });
    if (/^image\//.test(type)) {
      var link = h('a', { href: href, download: name, class: 'thumblink', 'aria-label': 'Save image ' + name },
        h('img', { class: 'thumb', src: href, alt: name, loading: 'lazy' }));
      b.appendChild(link);
    }
    b.appendChild(h('a', { href: href, download: name, class: 'filelink', text: name }));
    b.appendChild(h('span', { class: 'filesize', text: ' · ' + size }));
    return b;
  }

  function status(text, bad) {
    var s = $('file-status');
    s.textContent = text || '';
    s.className = 'file-status' + (bad ? ' bad' : '');
    s.hidden = !text;
  }

  function upload(file) {
    var conv = window.CordonConsole && window.CordonConsole.current();
    if (!conv) return;
    status('Sending ' + file.name + '…', false);
    fetch('/api/v1/conversations/' + encodeURIComponent(conv) + '/files?name=' + encodeURIComponent(file.name), {
      method: 'POST', credentials: 'same-origin', cache: 'no-store', body: file,
      headers: { 'Content-Type': file.type || 'application/octet-stream', Accept: 'application/json' }
    }).then(function (r) {
      if (r.ok) { status('', false); return undefined; }
      return r.json().then(function (j) {
        status('Not sent: ' + ((j && j.error && j.error.message) || 'the file was refused.'), true);
      }, function () { status('Not sent: the file was refused.', true); });
    }, function () { status('Not sent: cannot reach the server.', true); });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var picker = $('file-input');
    $('attach').addEventListener('click', function () { picker.click(); });
    picker.addEventListener('change', function () {
      var file = picker.files && picker.files[0];
      picker.value = '';
      if (file) upload(file);
    });
  });

  window.CordonFiles = { bubble: bubble };
})();
