// The audit log viewer in the admin pages (issue 20): the tenant log's latest entries with filters, the latest
// signed checkpoint (its Ed25519 signature checked here, in the browser, against the log's verifier key), and
// per entry one click that checks its RFC 6962 inclusion proof against that checkpoint's root with WebCrypto.
// Nothing is trusted from the server but bytes: the page recomputes every hash. docs/AUDIT.md has the formats.
(function () {
  'use strict';
  var C = Cordon, h = C.h, $ = C.$;
  var SHOWN = 200;        // the latest entries listed
  var checkpoint = null;  // { size, root (Uint8Array), origin, verified }
  var entries = [];       // { index, bytes (Uint8Array), json }

  function b64(s) {
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function hex(u8) { return Array.prototype.map.call(u8, function (x) { return ('0' + x.toString(16)).slice(-2); }).join(''); }
  function concat(parts) {
    var n = parts.reduce(function (a, p) { return a + p.length; }, 0);
    var out = new Uint8Array(n);
    var o = 0;
    parts.forEach(function (p) { out.set(p, o); o += p.length; });
    return out;
  }
  function sha256(bytes) { return crypto.subtle.digest('SHA-256', bytes).then(function (d) { return new Uint8Array(d); }); }
  function leafHash(entry) { return sha256(concat([new Uint8Array([0]), entry])); }
  function nodeHash(l, r) { return sha256(concat([new Uint8Array([1]), l, r])); }
  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /** RFC 9162 §2.1.3.2: the root an inclusion path leads to from leaf `index` of a tree of `size`. */
  function rootFromPath(index, size, leaf, path) {
    if (index >= size) return Promise.reject(new Error('index beyond the tree'));
    var fn = index, sn = size - 1, r = Promise.resolve(leaf);
    path.forEach(function (p) {
      r = r.then(function (cur) {
        if (sn === 0) throw new Error('the path is too long');
        var out;
        if ((fn & 1) === 1 || fn === sn) {
          out = nodeHash(p, cur);
          if ((fn & 1) === 0) { while ((fn & 1) === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
        } else {
          out = nodeHash(cur, p);
        }
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
        return out;
      });
    });
    return r.then(function (root) {
      if (sn !== 0) throw new Error('the path is too short');
      return root;
    });
  }

  function text(path) {
    return fetch(path, { credentials: 'same-origin' }).then(function (res) {
      if (!res.ok) { var e = new Error('Request failed (' + res.status + ')'); e.status = res.status; throw e; }
      return res.text();
    });
  }

  /** Check a C2SP signed note against a verifier key (`name+keyid+base64(0x01 ‖ ed25519 key)`). */
  function verifyNote(note, vkey) {
    // The key's base64 may itself hold '+': only the first two '+' separate fields.
    var parts = vkey.trim().split('+');
    var name = parts[0], keyId = parts[1], raw = b64(parts.slice(2).join('+'));
    var split = note.indexOf('\n\n');
    if (split < 0 || raw[0] !== 1 || raw.length !== 33) return Promise.resolve(false);
    var body = note.slice(0, split + 1);
    var prefix = '\u2014 ' + name + ' ';
    var line = note.slice(split + 2).split('\n').filter(function (l) { return l.indexOf(prefix) === 0; })[0];
    if (!line) return Promise.resolve(false);
    var sig = b64(line.slice(prefix.length));
    if (sig.length !== 68 || hex(sig.slice(0, 4)) !== keyId) return Promise.resolve(false);
    return crypto.subtle.importKey('raw', raw.slice(1), { name: 'Ed25519' }, false, ['verify']).then(function (key) {
      return crypto.subtle.verify({ name: 'Ed25519' }, key, sig.slice(4), new TextEncoder().encode(body));
    });
  }

  function setStatus(id, msg, bad) {
    var el = $(id);
    el.textContent = msg;
    el.className = 'status-text' + (bad ? ' error' : '');
  }

  function loadCheckpoint() {
    return Promise.all([text('/api/v1/audit/checkpoint'), text('/api/v1/audit/key')]).then(function (r) {
      var note = r[0], lines = note.split('\n');
      return verifyNote(note, r[1]).then(function (ok) {
        checkpoint = { origin: lines[0], size: parseInt(lines[1], 10), root: b64(lines[2]), verified: ok };
        var facts = $('au-checkpoint');
        C.clear(facts);
        [['Log', checkpoint.origin], ['Entries', String(checkpoint.size)], ['Root', hex(checkpoint.root)],
          ['Signature', ok ? '\u2713 valid (Ed25519, checked in this browser)' : 'NOT valid']].forEach(function (f) {
          facts.appendChild(h('dt', { text: f[0] }));
          facts.appendChild(h('dd', { class: f[0] === 'Root' ? 'mono' : null, text: f[1] }));
        });
        if (!ok) setStatus('au-status', 'The checkpoint signature does not verify against the log key.', true);
      });
    });
  }

  function loadEntries() {
    var size = checkpoint.size;
    var start = Math.max(0, size - SHOWN);
    return C.api('GET', '/api/v1/audit/entries?start=' + start + '&end=' + size).then(function (page) {
      entries = page.entries.map(function (e) {
        var bytes = b64(e.entry), json = {};
        try { json = JSON.parse(new TextDecoder().decode(bytes)); } catch (err) { json = {}; }
        return { index: e.index, bytes: bytes, json: json };
      }).reverse();
      var actions = {};
      entries.forEach(function (e) { if (e.json.action) actions[e.json.action] = true; });
      var sel = $('au-action');
      var keep = sel.value;
      while (sel.options.length > 1) sel.remove(1);
      Object.keys(actions).sort().forEach(function (a) { sel.appendChild(h('option', { value: a, text: a })); });
      sel.value = keep;
      render();
    });
  }

  function render() {
    var action = $('au-action').value;
    var actor = $('au-actor').value.trim().toLowerCase();
    var target = $('au-target').value.trim().toLowerCase();
    var tb = $('au-entries');
    C.clear(tb);
    var rows = entries.filter(function (e) {
      var j = e.json;
      return (!action || j.action === action) && (!actor || String(j.actor || '').toLowerCase().indexOf(actor) >= 0) &&
        (!target || String(j.target || '').toLowerCase().indexOf(target) >= 0);
    });
    rows.forEach(function (e) {
      var j = e.json;
      var result = h('span', { class: 'au-result', id: 'au-r-' + e.index });
      tb.appendChild(h('tr', { 'data-index': String(e.index) },
        h('td', { class: 'num', text: String(e.index) }),
        h('td', { class: 'nowrap', text: j.ts ? C.date(j.ts) + ' ' + C.time(j.ts) : '' }),
        h('td', { class: 'mono', text: j.action || '' }),
        h('td', { class: 'mono', text: j.actor || '' }),
        h('td', { class: 'mono', text: j.target || '' }),
        h('td', null, h('button', { type: 'button', class: 'ghost', 'aria-label': 'Verify entry ' + e.index, text: 'Verify',
          onclick: function () { verify(e, result); } }), ' ', result)));
    });
    if (!rows.length) tb.appendChild(h('tr', null, h('td', { colspan: '6', class: 'muted', text: 'No entries match.' })));
    setStatus('au-status', 'Showing ' + rows.length + ' of the latest ' + entries.length + ' entries (of ' + checkpoint.size + ').', false);
  }

  /** Prove entry `e` is in the checkpoint's tree: its leaf hash, the server's path, our root against the signed one. */
  function verify(e, out) {
    out.textContent = 'Checking…';
    out.className = 'au-result';
    var size = checkpoint.size;
    C.api('GET', '/api/v1/audit/proof/inclusion?index=' + e.index + '&size=' + size).then(function (p) {
      return leafHash(e.bytes).then(function (leaf) {
        return rootFromPath(e.index, size, leaf, p.audit_path.map(b64));
      });
    }).then(function (root) {
      var ok = equal(root, checkpoint.root) && checkpoint.verified;
      out.textContent = ok ? '\u2713 in the signed log (' + size + ' entries)' : 'NOT in the signed log';
      out.className = 'au-result ' + (ok ? 'ok' : 'bad');
    }, function (err) {
      out.textContent = 'Proof failed: ' + err.message;
      out.className = 'au-result bad';
    });
  }

  function start() {
    setStatus('au-status', 'Loading the audit log…', false);
    loadCheckpoint().then(loadEntries, function (e) {
      setStatus('au-status', e.status === 404 ? 'No checkpoint has been signed yet; try again in a second.' : e.message, e.status !== 404);
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    if (!$('au-entries')) return;
    ['au-action', 'au-actor', 'au-target'].forEach(function (id) {
      $(id).addEventListener('input', function () { if (checkpoint) render(); });
    });
    $('au-refresh').addEventListener('click', start);
    // The section is opened on demand: reading the log is itself a read (audited as such where it applies).
    $('au-load').addEventListener('click', function () {
      $('au-body').hidden = false;
      $('au-load').hidden = true;
      start();
    });
  });
})();
