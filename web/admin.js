// Admin pages: tenant settings, identity secret, embed snippet, agents, API keys and the exposure record.
// Secrets (a new identity secret, a new API key) are shown once, in a read-only field, and kept nowhere.
(function () {
  'use strict';
  var C = Cordon, h = C.h, $ = C.$;
  var me = null;
  var filesByHash = {};

  function status(id, text, isError) {
    var el = $(id);
    el.textContent = text || '';
    el.className = 'status-text' + (isError ? ' error' : '');
  }

  C.me().then(function (who) {
    me = who;
    $('tenant-name').textContent = who.tenant.display_name;
    $('me-name').textContent = who.agent ? who.agent.display_name : '';
    if (who.scopes.indexOf('admin') < 0) { $('denied').hidden = false; return; }
    $('admin').hidden = false;
    loadTenant();
    loadSnippet();
    // The key list names its creators by agent name, so it waits for the agents (and shows ids if they fail).
    loadAgents().then(loadKeys, loadKeys);
    initExposure();
  }, function (e) {
    if (e.status === 401) location.assign('/console');
    else C.toast(e.message, true);
  });

  $('logout').addEventListener('click', function () { C.logout(); });

  // ---- tenant settings ----------------------------------------------------------------------------------

  function loadTenant() {
    C.api('GET', '/api/v1/tenant').then(function (t) {
      $('s-name').value = t.display_name;
      $('s-origins').value = t.allowed_origins.join('\n');
      $('s-verify').checked = t.verify_identity;
    }, function (e) { status('settings-status', e.message, true); });
  }

  $('settings-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var origins = $('s-origins').value.split(/[\s,]+/).map(function (s) { return s.trim().replace(/\/+$/, ''); }).filter(Boolean);
    status('settings-status', 'Saving…');
    C.api('PATCH', '/api/v1/tenant', {
      display_name: $('s-name').value.trim(),
      allowed_origins: origins,
      verify_identity: $('s-verify').checked
    }).then(function (t) {
      $('s-origins').value = t.allowed_origins.join('\n');
      $('tenant-name').textContent = t.display_name;
      status('settings-status', 'Saved.');
    }, function (e) { status('settings-status', e.message, true); });
  });

  $('rotate').addEventListener('click', function () {
    $('rotate-confirm').hidden = false;
    $('rotate-yes').focus();
  });
  $('rotate-no').addEventListener('click', function () { $('rotate-confirm').hidden = true; $('rotate').focus(); });
  $('rotate-yes').addEventListener('click', function () {
    $('rotate-confirm').hidden = true;
    C.api('POST', '/api/v1/tenant/identity-secret').then(function (r) {
      $('secret-value').value = r.identity_secret;
      $('secret-box').hidden = false;
      $('secret-value').focus();
      $('secret-value').select();
      status('secret-status', 'The identity secret was rotated.');
    }, function (e) { status('secret-status', e.message, true); });
  });
  $('secret-copy').addEventListener('click', function () {
    C.copy($('secret-value').value, $('secret-value'), $('secret-status'));
  });

  // ---- snippet ------------------------------------------------------------------------------------------

  function loadSnippet() {
    C.api('GET', '/api/v1/widget').then(function (w) {
      $('snippet').value = w.snippet;
      var tb = $('files');
      C.clear(tb);
      w.files.forEach(function (f) {
        filesByHash[f.sha384] = f.name;
        tb.appendChild(h('tr', null,
          h('td', { text: f.name }),
          h('td', { class: 'mono', text: f.path }),
          h('td', { class: 'mono', text: f.integrity })));
      });
    }, function (e) { status('snippet-status', e.message, true); });
  }
  $('snippet-copy').addEventListener('click', function () {
    C.copy($('snippet').value, $('snippet'), $('snippet-status'));
  });

  // ---- agents -------------------------------------------------------------------------------------------

  function patchAgent(a, patch, done) {
    status('agents-status', 'Saving…');
    C.api('PATCH', '/api/v1/agents/' + encodeURIComponent(a.id), patch).then(function () {
      status('agents-status', 'Saved ' + a.display_name + '.');
      loadAgents();
    }, function (e) {
      status('agents-status', e.message, true);
      if (done) done();
    });
  }

  // Agent names by id, to say who created each API key.
  var agentNames = {};

  function loadAgents() {
    return C.api('GET', '/api/v1/agents').then(function (list) {
      list.forEach(function (a) { agentNames[a.id] = a.display_name + ' (' + a.username + ')'; });
      var tb = $('agents');
      C.clear(tb);
      list.forEach(function (a) {
        var self = me.agent && me.agent.id === a.id;
        var role = h('select', { 'aria-label': 'Role of ' + a.display_name, disabled: self });
        ['agent', 'admin', 'auditor'].forEach(function (r) {
          role.appendChild(h('option', { value: r, text: r[0].toUpperCase() + r.slice(1), selected: r === a.role }));
        });
        role.addEventListener('change', function () { patchAgent(a, { role: role.value }, loadAgents); });
        var cap = h('input', { type: 'number', min: '1', max: '50', value: String(a.capacity), 'aria-label': 'Capacity of ' + a.display_name });
        cap.addEventListener('change', function () {
          var n = parseInt(cap.value, 10);
          if (n >= 1) patchAgent(a, { capacity: n }, loadAgents);
        });
        var toggle = h('button', { type: 'button', class: a.disabled ? 'secondary' : 'danger', disabled: self,
          text: a.disabled ? 'Enable' : 'Disable', 'aria-label': (a.disabled ? 'Enable ' : 'Disable ') + a.display_name });
        toggle.addEventListener('click', function () { patchAgent(a, { disabled: !a.disabled }); });
        var signout = h('button', { type: 'button', class: 'ghost', text: 'Sign out', 'aria-label': 'Sign out ' + a.display_name + ' everywhere' });
        signout.addEventListener('click', function () {
          C.api('POST', '/api/v1/agents/' + encodeURIComponent(a.id) + '/revoke-sessions').then(function (r) {
            status('agents-status', a.display_name + ': ' + r.revoked + ' session(s) ended.');
          }, function (e) { status('agents-status', e.message, true); });
        });
        tb.appendChild(h('tr', null,
          h('td', null, h('strong', { text: a.display_name }), self ? ' (you)' : ''),
          h('td', { class: 'mono', text: a.username }),
          h('td', null, role),
          h('td', null, cap),
          h('td', null, h('span', { class: 'dot ' + a.status, 'aria-hidden': 'true' }), ' ' + (a.disabled ? 'disabled' : a.status)),
          h('td', null, toggle, ' ', signout)));
      });
    }, function (e) { status('agents-status', e.message, true); });
  }

  $('agent-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var body = {
      display_name: $('a-name').value.trim(),
      username: $('a-user').value.trim(),
      role: $('a-role').value,
      capacity: parseInt($('a-cap').value, 10) || 3,
      password: $('a-pass').value
    };
    C.api('POST', '/api/v1/agents', body).then(function (a) {
      status('agents-status', 'Added ' + a.display_name + '.');
      $('agent-form').reset();
      loadAgents();
    }, function (e) { status('agents-status', e.message, true); });
  });

  // ---- API keys -----------------------------------------------------------------------------------------

  function loadKeys() {
    C.api('GET', '/api/v1/apikeys').then(function (list) {
      var tb = $('keys');
      C.clear(tb);
      var now = Date.now();
      if (!list.length) tb.appendChild(h('tr', null, h('td', { colspan: '7', class: 'muted', text: 'No API keys yet.' })));
      list.forEach(function (k) {
        var state = k.revoked_at ? 'revoked' : k.expires_at <= now ? 'expired' : 'active';
        var revoke = state === 'active'
          ? h('button', { type: 'button', class: 'danger', text: 'Revoke', 'aria-label': 'Revoke key ' + k.prefix })
          : null;
        if (revoke) {
          revoke.addEventListener('click', function () {
            C.api('DELETE', '/api/v1/apikeys/' + encodeURIComponent(k.id)).then(function () {
              status('keys-status', 'Key ' + k.prefix + '… revoked.');
              loadKeys();
            }, function (e) { status('keys-status', e.message, true); });
          });
        }
        tb.appendChild(h('tr', null,
          h('td', { class: 'mono', text: k.prefix + '…' }),
          h('td', null, scopeList(k)),
          h('td', { text: creator(k.created_by) }),
          h('td', { text: C.date(k.created_at) }),
          h('td', { text: C.date(k.expires_at) }),
          h('td', null, h('span', { class: 'pill ' + (state === 'active' ? 'assigned' : 'closed'), text: state })),
          h('td', null, revoke)));
      });
    }, function (e) { status('keys-status', e.message, true); });
  }

  // Each scope as a pill; those that reach transcripts or the audit log are marked.
  function scopeList(k) {
    var sensitive = k.sensitive_scopes || [];
    var wrap = h('span', { class: 'scopes' });
    k.scopes.forEach(function (s) {
      var marked = sensitive.indexOf(s) >= 0;
      wrap.appendChild(h('span', {
        class: 'pill' + (marked ? ' sensitive' : ''),
        title: marked ? 'Sensitive: reads transcripts or the audit log' : null,
        text: s + (marked ? ' \u26a0' : '')
      }));
      if (marked) wrap.appendChild(h('span', { class: 'sr-only', text: ' (sensitive)' }));
      wrap.appendChild(document.createTextNode(' '));
    });
    return wrap;
  }

  function creator(label) {
    if (!label) return 'unknown';
    if (label.indexOf('agent:') === 0) return agentNames[label.slice(6)] || label;
    if (label === 'operator:cli') return 'operator (CLI)';
    if (label.indexOf('apikey:') === 0) return 'API key ' + label.slice(7);
    return label;
  }

  $('key-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var scopes = Array.prototype.filter.call(document.getElementsByName('scope'), function (c) { return c.checked; })
      .map(function (c) { return c.value; });
    if (!scopes.length) { status('keys-status', 'Choose at least one scope.', true); return; }
    var days = parseInt($('k-days').value, 10) || 90;
    C.api('POST', '/api/v1/apikeys', { scopes: scopes, expires_in_days: days }).then(function (r) {
      $('key-value').value = r.key;
      $('key-box').hidden = false;
      $('key-value').focus();
      $('key-value').select();
      status('keys-status', 'Key created. It expires on ' + C.date(r.api_key.expires_at) + '.');
      loadKeys();
    }, function (e) { status('keys-status', e.message, true); });
  });
  $('key-copy').addEventListener('click', function () {
    C.copy($('key-value').value, $('key-value'), $('keys-status'));
  });

  // ---- exposure record ----------------------------------------------------------------------------------

  function localInput(ms) {
    var d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 16);
  }

  function initExposure() {
    var now = Date.now();
    $('e-from').value = localInput(now - 24 * 3600 * 1000);
    $('e-to').value = localInput(now + 60 * 1000);
    $('exposure-form').requestSubmit();
  }

  $('exposure-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var p = new URLSearchParams();
    var from = new Date($('e-from').value).getTime();
    var to = new Date($('e-to').value).getTime();
    if (from) p.set('from', String(from));
    if (to) p.set('to', String(to));
    var hash = $('e-hash').value.trim();
    if (hash) p.set('asset_hash', hash);
    status('exposure-status', 'Loading…');
    C.api('GET', '/api/v1/visitor-sessions?' + p.toString()).then(function (page) {
      var tb = $('sessions');
      C.clear(tb);
      page.sessions.forEach(function (s) {
        var files = s.asset_hashes.map(function (x) { return (filesByHash[x] || 'other') + ' ' + x.slice(0, 12) + '…'; });
        tb.appendChild(h('tr', null,
          h('td', { text: C.date(s.started_at) + ' ' + C.time(s.started_at) }),
          h('td', { text: s.ended_at ? C.time(s.ended_at) : 'open' }),
          h('td', { class: 'mono', text: s.embed_origin || 'unknown' }),
          h('td', { text: String(s.cards_redacted) }),
          h('td', { class: 'mono lines', text: files.join('\n') })));
      });
      status('exposure-status', page.sessions.length + ' session(s)' + (page.next_cursor ? ' (first page)' : '') + '.');
    }, function (e) { status('exposure-status', e.message, true); });
  });
})();
