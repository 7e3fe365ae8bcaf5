// Admin pages: tenant settings, identity secret, embed snippet, agents, API keys, webhooks, the exposure record and the
// transparency report (with its sessions-by-file chart, drawn as inline SVG).
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
    var admin = who.scopes.indexOf('admin') >= 0;
    if (!admin && who.scopes.indexOf('audit:read') >= 0) { auditorView(); return; }
    if (!admin) { $('denied').hidden = false; return; }
    $('admin').hidden = false;
    loadTenant();
    loadSnippet();
    // The key list names its creators by agent name, so it waits for the agents (and shows ids if they fail).
    var afterAgents = function () { loadKeys(); loadHooks(); };
    loadAgents().then(afterAgents, afterAgents);
    initExposure();
    loadTransparency();
    loadMfa();
    loadGrants();
    loadDeliveries();
    loadRetention();
  }, function (e) {
    if (e.status === 401) location.assign('/console');
    else C.toast(e.message, true);
  });

  $('logout').addEventListener('click', function () { C.logout(); });

  // An auditor (audit:read, no admin) sees what it may read: the reports and the audit log viewer, each of which
  // loads its own data; the sections that change settings stay hidden (the service refuses them to it anyway).
  function auditorView() {
    Array.prototype.forEach.call(document.querySelectorAll('#admin > section'), function (s) {
      s.hidden = !s.hasAttribute('data-auditor');
    });
    $('auditor-note').hidden = false;
    $('admin').hidden = false;
  }

  // ---- second factor (issue 12) ---------------------------------------------------------------------------

  function loadMfa() {
    C.api('GET', '/api/v1/me/totp').then(function (t) {
      $('mfa-state').textContent = t.enabled
        ? 'Your sign-in asks for a code from your authenticator app.'
        : 'Your sign-in asks for your password only.';
      // A confirmed app is not replaced from here (the service refuses it: a stolen session must not swap it).
      $('mfa-begin').hidden = t.enabled;
      $('mfa-require').checked = t.required_by_tenant;
    }, function (e) { status('mfa-status', e.message, true); });
  }

  $('mfa-begin').addEventListener('click', function () {
    C.api('POST', '/api/v1/me/totp', {}).then(function (r) {
      $('mfa-uri').value = r.otpauth_uri;
      $('mfa-secret').value = r.secret;
      $('mfa-enrol').hidden = false;
      $('mfa-code').focus();
      status('mfa-status', '');
    }, function (e) { status('mfa-status', e.message, true); });
  });

  $('mfa-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    C.api('POST', '/api/v1/me/totp', { code: $('mfa-code').value.trim() }).then(function () {
      // The secret is not kept on the page once it is confirmed.
      $('mfa-uri').value = '';
      $('mfa-secret').value = '';
      $('mfa-code').value = '';
      $('mfa-enrol').hidden = true;
      status('mfa-status', 'Authenticator app confirmed: sign-in now asks for its code.');
      loadMfa();
    }, function (e) { status('mfa-status', e.message, true); });
  });

  $('mfa-require').addEventListener('change', function () {
    var on = $('mfa-require').checked;
    C.api('PATCH', '/api/v1/tenant/mfa', { require_totp: on }).then(function () {
      status('mfa-status', on ? 'Every agent now needs a second factor to sign in.' : 'A second factor is optional again.');
    }, function (e) {
      $('mfa-require').checked = !on;
      status('mfa-status', e.message, true);
    });
  });

  // ---- operator access (issue 12) -------------------------------------------------------------------------

  function loadGrants() {
    C.api('GET', '/api/v1/operator-grants').then(function (r) {
      var banner = $('breakglass-banner');
      banner.hidden = !r.break_glass_active.length;
      banner.textContent = r.break_glass_active.length
        ? 'Break-glass: ' + r.break_glass_active.length + ' Cordon operator grant(s) opened by two operators without your ' +
          'approval are active now. Review them under Operator access; you can revoke them.'
        : '';
      var body = $('grants');
      body.textContent = '';
      if (!r.grants.length) body.appendChild(h('tr', {}, h('td', { colspan: 5, class: 'muted', text: 'No requests.' })));
      r.grants.forEach(function (g) {
        var actions = h('td', { class: 'actions' });
        if (g.state === 'pending' && !g.break_glass) {
          actions.appendChild(h('button', { type: 'button', class: 'primary', text: 'Approve', onclick: function () { decide(g, 'approve'); } }));
        }
        if (g.state === 'pending' || g.state === 'active') {
          actions.appendChild(h('button', { type: 'button', class: 'ghost', text: 'Revoke', onclick: function () { decide(g, 'revoke'); } }));
        }
        var state = g.state + (g.break_glass ? ' (break-glass)' : '') + (g.state === 'active' ? ' until ' + C.time(g.expires_at) : '');
        body.appendChild(h('tr', { 'data-grant': g.id },
          h('td', { text: g.operator_name }), h('td', { text: g.reason }), h('td', { class: 'num', text: String(g.hours) }),
          h('td', { text: state }), actions));
      });
    }, function (e) { status('grants-status', e.message, true); });
  }

  function decide(g, what) {
    C.api('POST', '/api/v1/operator-grants/' + encodeURIComponent(g.id) + '/' + what).then(function () {
      status('grants-status', what === 'approve'
        ? 'Approved: ' + g.operator_name + ' may read your data for ' + g.hours + ' h.'
        : 'Revoked: ' + g.operator_name + ' has no access.');
      loadGrants();
    }, function (e) { status('grants-status', e.message, true); });
  }

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

  // ---- webhooks (issue 16) ------------------------------------------------------------------------------

  function loadHooks() {
    C.api('GET', '/api/v1/webhooks').then(function (list) {
      var tb = $('hooks');
      C.clear(tb);
      if (!list.length) tb.appendChild(h('tr', null, h('td', { colspan: '5', class: 'muted', text: 'No endpoints yet.' })));
      list.forEach(function (w) {
        var del = h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': 'Delete endpoint ' + w.url });
        del.addEventListener('click', function () {
          C.api('DELETE', '/api/v1/webhooks/' + encodeURIComponent(w.id)).then(function () {
            status('hooks-status', 'Endpoint deleted; its undelivered events are dropped.');
            loadHooks();
            loadDeliveries();
          }, function (e) { status('hooks-status', e.message, true); });
        });
        var events = h('span', { class: 'scopes' });
        w.events.forEach(function (ev) {
          events.appendChild(h('span', { class: 'pill', text: ev }));
          events.appendChild(document.createTextNode(' '));
        });
        tb.appendChild(h('tr', null,
          h('td', null, h('span', { class: 'mono break', text: w.url }), w.description ? h('div', { class: 'hint', text: w.description }) : null),
          h('td', null, events),
          h('td', { text: creator(w.created_by) }),
          h('td', { text: C.date(w.created_at) }),
          h('td', null, del)));
      });
    }, function (e) { status('hooks-status', e.message, true); });
  }

  function loadDeliveries() {
    var state = $('d-state').value;
    var q = '?limit=50' + (state ? '&state=' + encodeURIComponent(state) : '');
    C.api('GET', '/api/v1/webhooks/deliveries' + q).then(function (list) {
      var tb = $('deliveries');
      C.clear(tb);
      if (!list.length) tb.appendChild(h('tr', null, h('td', { colspan: '6', class: 'muted', text: 'No deliveries.' })));
      list.forEach(function (d) {
        var pill = d.state === 'delivered' ? 'assigned' : d.state === 'dead' ? 'closed' : 'queued';
        var label = d.state === 'dead' ? 'failed' : d.state;
        var last = d.last_status ? 'HTTP ' + d.last_status : '';
        if (d.last_error && d.state !== 'delivered') last = d.last_error;
        if (d.state === 'pending' && d.next_attempt_at) last += (last ? '; ' : '') + 'next try ' + C.time(d.next_attempt_at);
        var again = d.state === 'pending' ? null
          : h('button', { type: 'button', class: d.state === 'dead' ? 'primary' : 'ghost', text: 'Redeliver', 'aria-label': 'Redeliver ' + d.event + ' ' + d.id });
        if (again) {
          again.addEventListener('click', function () {
            C.api('POST', '/api/v1/webhooks/deliveries/' + encodeURIComponent(d.id) + '/redeliver').then(function () {
              status('deliveries-status', 'Queued again: ' + d.event + '.');
              loadDeliveries();
            }, function (e) { status('deliveries-status', e.message, true); });
          });
        }
        tb.appendChild(h('tr', { title: 'webhook-id ' + d.id },
          h('td', null, h('span', { class: 'nowrap', text: d.event })),
          h('td', { text: C.time(d.created_at) }),
          h('td', null, h('span', { class: 'pill ' + pill, text: label })),
          h('td', { class: 'num', text: String(d.attempts) }),
          h('td', { class: 'break', text: last || '—' }),
          h('td', null, again)));
      });
    }, function (e) { status('deliveries-status', e.message, true); });
  }

  $('d-state').addEventListener('change', loadDeliveries);
  $('d-refresh').addEventListener('click', loadDeliveries);

  $('hook-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var events = Array.prototype.filter.call(document.getElementsByName('hook-event'), function (c) { return c.checked; })
      .map(function (c) { return c.value; });
    if (!events.length) { status('hooks-status', 'Choose at least one event.', true); return; }
    C.api('POST', '/api/v1/webhooks', { url: $('h-url').value.trim(), events: events, description: $('h-desc').value.trim() })
      .then(function (r) {
        $('hook-secret').value = r.secret;
        $('hook-box').hidden = false;
        $('hook-secret').focus();
        $('hook-secret').select();
        $('h-url').value = '';
        $('h-desc').value = '';
        status('hooks-status', 'Endpoint added.');
        loadHooks();
      }, function (e) { status('hooks-status', e.message, true); });
  });
  $('hook-copy').addEventListener('click', function () {
    C.copy($('hook-secret').value, $('hook-secret'), $('hooks-status'));
  });

  // ---- visitor requests (issue 16) -------------------------------------------------------------------------

  function visitorSubject() {
    var id = $('vr-id').value.trim();
    if (!id) return null;
    var body = {};
    body[$('vr-kind').value] = id;
    return body;
  }

  $('vr-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var body = visitorSubject();
    if (!body) return;
    C.api('POST', '/api/v1/visitor-requests/export', body).then(function (r) {
      var text = JSON.stringify(r, null, 2);
      var a = h('a', { href: URL.createObjectURL(new Blob([text], { type: 'application/json' })),
        download: 'visitor-' + r.visitor_ids[0] + '.json' });
      document.body.appendChild(a);
      a.click();
      a.remove();
      var rows = Object.keys(r.tables).reduce(function (n, t) { return n + r.tables[t].length; }, 0);
      status('vr-status', 'Exported ' + r.visitor_ids.length + ' visitor(s): ' + rows + ' records, downloaded as JSON.');
    }, function (e) { status('vr-status', e.status === 404 ? 'No visitor of yours has this id.' : e.message, true); });
  });
  $('vr-delete').addEventListener('click', function () {
    if (!visitorSubject()) { status('vr-status', 'Enter the visitor\'s id first.', true); return; }
    $('vr-confirm-text').textContent = 'This deletes everything held of ' + $('vr-id').value.trim() + ', for good.';
    $('vr-confirm').hidden = false;
    $('vr-yes').focus();
  });
  $('vr-no').addEventListener('click', function () { $('vr-confirm').hidden = true; $('vr-delete').focus(); });
  $('vr-yes').addEventListener('click', function () {
    $('vr-confirm').hidden = true;
    C.api('POST', '/api/v1/visitor-requests/delete', visitorSubject()).then(function (r) {
      var parts = Object.keys(r.deleted).filter(function (t) { return r.deleted[t] > 0; })
        .map(function (t) { return r.deleted[t] + ' ' + t.replace(/_/g, ' '); });
      status('vr-status', 'Deleted ' + r.visitor_ids.length + ' visitor(s): ' + (parts.join(', ') || 'nothing else held') + '.');
      $('vr-id').value = '';
    }, function (e) { status('vr-status', e.status === 404 ? 'No visitor of yours has this id.' : e.message, true); });
  });

  function loadRetention() {
    C.api('GET', '/api/v1/tenant/retention').then(function (r) {
      $('ret-t').value = r.transcript_days || '';
      $('ret-e').value = r.exposure_days || '';
      status('ret-status', r.description.charAt(0).toUpperCase() + r.description.slice(1) + '.');
    }, function (e) { status('ret-status', e.message, true); });
  }
  $('ret-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var days = function (id) { var v = $(id).value.trim(); return v ? parseInt(v, 10) : null; };
    C.api('PUT', '/api/v1/tenant/retention', { transcript_days: days('ret-t'), exposure_days: days('ret-e') }).then(function (r) {
      status('ret-status', 'Saved. ' + r.description.charAt(0).toUpperCase() + r.description.slice(1) + '.');
    }, function (e) { status('ret-status', e.message, true); });
  });

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
  // ---- transparency report ------------------------------------------------------------------------------

  var CATEGORY_NAMES = {
    visitors: 'Visitors', visitor_sessions: 'Chat sessions (exposure record)', conversations: 'Conversations',
    messages: 'Messages', card_mentions: 'Card mentions', agents: 'Agent accounts', agent_sessions: 'Console sessions',
    api_keys: 'API keys', audit_entries: 'Audit log entries'
  };
  var COLORS = ['#1d4ed8', '#0891b2', '#7c3aed', '#d97706', '#15803d', '#db2777', '#475569'];
  var SVG = 'http://www.w3.org/2000/svg';

  function svg(tag, attrs) {
    var el = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, String(attrs[k])); });
    return el;
  }

  function fileLabel(f) {
    return f.release ? f.release : 'unknown file';
  }

  function loadTransparency() {
    status('t-status', 'Loading…');
    C.api('GET', '/api/v1/transparency').then(function (t) {
      status('t-status', 'Generated ' + C.date(t.generated_at) + ' ' + C.time(t.generated_at) + '.');
      $('t-retention').textContent = 'Retention: ' + t.retention + '.';
      var tb = $('t-data');
      C.clear(tb);
      t.data.forEach(function (d) {
        tb.appendChild(h('tr', null,
          h('td', { text: CATEGORY_NAMES[d.category] || d.category }),
          h('td', { class: 'muted', text: d.description }),
          h('td', { class: 'num', text: String(d.count) }),
          h('td', { class: 'nowrap', text: d.oldest_at ? C.date(d.oldest_at) : '—' })));
      });

      $('t-lastuse').textContent = 'Last use is ' + t.principals.last_use + '. Operator: ' + t.principals.operator + '.';
      var pb = $('t-principals');
      C.clear(pb);
      t.principals.agents.forEach(function (a) {
        pb.appendChild(h('tr', null,
          h('td', null, h('strong', { text: a.display_name }), ' ', h('span', { class: 'muted', text: '(' + a.username + ')' })),
          h('td', null, h('span', { class: 'pill', text: a.role }), ' ', h('span', { class: 'muted', text: a.scopes.join(', ') })),
          h('td', { class: 'nowrap', text: C.date(a.created_at) }),
          h('td', { class: 'nowrap', text: a.last_used_at ? C.date(a.last_used_at) + ' ' + C.time(a.last_used_at) : 'never' }),
          h('td', { text: a.disabled ? 'disabled' : 'active' })));
      });
      t.principals.api_keys.forEach(function (k) {
        var state = k.revoked_at ? 'revoked' : (k.expires_at < Date.now() ? 'expired' : 'active');
        pb.appendChild(h('tr', null,
          h('td', null, 'API key ', h('span', { class: 'mono', text: k.prefix + '…' }),
            h('div', { class: 'muted', text: 'by ' + creator(k.created_by) })),
          h('td', null, scopeList({ scopes: k.scopes, sensitive_scopes: k.scopes.filter(function (s) { return s !== 'admin'; }) })),
          h('td', { class: 'nowrap', text: C.date(k.created_at) }),
          h('td', { class: 'nowrap', text: k.last_used_at ? C.date(k.last_used_at) + ' ' + C.time(k.last_used_at) : 'never' }),
          h('td', { text: state })));
      });
      (t.principals.operator_grants || []).forEach(function (g) {
        pb.appendChild(h('tr', null,
          h('td', null, 'Operator ', h('strong', { text: g.operator_name }),
            g.break_glass ? h('div', null, h('span', { class: 'pill unknown', text: 'break-glass' })) : null),
          h('td', { class: 'muted', text: 'grant ' + g.id + (g.expires_at ? ', until ' + C.date(g.expires_at) + ' ' + C.time(g.expires_at) : '') }),
          h('td', { class: 'nowrap', text: C.date(g.requested_at) }),
          h('td', { class: 'nowrap', text: g.last_used_at ? C.date(g.last_used_at) + ' ' + C.time(g.last_used_at) : 'never' }),
          h('td', { text: g.state })));
      });

      var sb = $('t-systems');
      C.clear(sb);
      t.systems.forEach(function (x) {
        sb.appendChild(h('tr', null, h('td', { text: x.name }), h('td', { text: x.kind }), h('td', { class: 'muted', text: x.detail })));
      });

      drawChart(t);
      var fb = $('t-files');
      C.clear(fb);
      t.files.forEach(function (f) {
        fb.appendChild(h('tr', null,
          h('td', { text: fileLabel(f) }),
          h('td', { class: 'mono nowrap', title: f.integrity, text: f.sha384.slice(0, 16) + '…' }),
          h('td', null, h('span', { class: 'pill ' + (f.known ? 'known' : 'unknown'), text: f.known ? 'known release' : 'NOT a Cordon release' })),
          h('td', { class: 'num', text: String(f.sessions) }),
          h('td', { text: f.first_day === f.last_day ? f.first_day : f.first_day + ' – ' + f.last_day })));
      });
      if (!t.files.length) fb.appendChild(h('tr', null, h('td', { colspan: '5', class: 'muted', text: 'No chat sessions in the last 90 days.' })));

      var cp = $('t-checkpoint');
      C.clear(cp);
      if (!t.checkpoint) {
        cp.appendChild(h('dt', { text: 'Checkpoint' }));
        cp.appendChild(h('dd', { text: 'none yet: the first is signed within seconds of the first entry' }));
        $('t-verify').disabled = true;
      } else {
        var c = t.checkpoint;
        [['Entries', String(c.size)], ['Root hash', c.root_hash], ['Signed', C.date(c.created_at) + ' ' + C.time(c.created_at)],
         ['Log key', c.verifier_key]].forEach(function (row) {
          cp.appendChild(h('dt', { text: row[0] }));
          cp.appendChild(h('dd', { class: row[0] === 'Entries' || row[0] === 'Signed' ? '' : 'mono', text: row[1] }));
        });
        cp.appendChild(h('dt', { text: 'Signed note' }));
        cp.appendChild(h('dd', null, h('pre', { class: 'note mono', text: c.note })));
        $('t-verify').disabled = false;
      }
    }, function (e) { status('t-status', e.message, true); });
  }

  // Grouped bars: for each day, one bar per widget file, as high as the sessions that ran it (every session runs
  // all the files of its release, so the bars of a day are equal unless a file changed); unknown files in red.
  function drawChart(t) {
    var box = $('t-chart');
    C.clear(box);
    if (!t.assets.length) return;
    var files = t.files.map(function (f) { return f.sha384; });
    var color = {};
    t.files.forEach(function (f, i) { color[f.sha384] = f.known ? COLORS[i % COLORS.length] : '#dc2626'; });
    var byDay = {};
    var max = 1;
    t.assets.forEach(function (a) {
      var d = byDay[a.day] || (byDay[a.day] = {});
      d[a.sha384] = (d[a.sha384] || 0) + a.sessions;
      max = Math.max(max, d[a.sha384]);
    });
    var days = Object.keys(byDay).sort();
    var W = 720, H = 200, left = 36, bottom = 22, top = 8;
    var plotW = W - left - 8, plotH = H - bottom - top;
    var slot = plotW / Math.max(days.length, 1);
    var groupW = Math.min(slot * 0.8, 18 * files.length);
    var barW = Math.max(1, groupW / files.length - 1);
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': 't-chart-title' });
    var title = svg('title', { id: 't-chart-title' });
    title.textContent = 'Chat sessions per day by widget file, ' + days[0] + ' to ' + days[days.length - 1];
    root.appendChild(title);
    root.appendChild(svg('line', { class: 'axis', x1: left, y1: top + plotH, x2: W - 8, y2: top + plotH }));
    [0, max].forEach(function (v) {
      var y = top + plotH - (v / max) * plotH;
      var label = svg('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' });
      label.textContent = String(v);
      root.appendChild(label);
    });
    days.forEach(function (d, i) {
      var x0 = left + i * slot + (slot - groupW) / 2;
      files.forEach(function (f, j) {
        var n = byDay[d][f] || 0;
        if (!n) return;
        var hgt = Math.max((n / max) * plotH, 0.5);
        var rect = svg('rect', { x: (x0 + j * (barW + 1)).toFixed(1), y: (top + plotH - hgt).toFixed(1), width: barW.toFixed(1), height: hgt.toFixed(1), fill: color[f], rx: 1.5 });
        var tip = svg('title');
        tip.textContent = d + ': ' + n + ' session(s) ran ' + f.slice(0, 16) + '…';
        rect.appendChild(tip);
        root.appendChild(rect);
      });
      if (days.length <= 12 || i === 0 || i === days.length - 1 || i % Math.ceil(days.length / 6) === 0) {
        var label = svg('text', { x: (x0 + groupW / 2).toFixed(1), y: H - 6, 'text-anchor': 'middle' });
        label.textContent = d.slice(5);
        root.appendChild(label);
      }
    });
    box.appendChild(root);
    var legend = h('ul', { class: 'legend' });
    t.files.forEach(function (f) {
      var sw = h('span', { class: 'swatch' });
      sw.style.background = color[f.sha384];
      legend.appendChild(h('li', null, sw, h('span', { text: fileLabel(f) + ' ' }), h('span', { class: 'mono muted', text: f.sha384.slice(0, 8) })));
    });
    box.appendChild(legend);
  }

  $('t-verify').addEventListener('click', function () {
    status('t-verify-status', 'Verifying…');
    C.api('POST', '/api/v1/transparency/checkpoint-check').then(function (r) {
      if (!r.present) { status('t-verify-status', 'No checkpoint yet.', true); return; }
      if (r.ok) status('t-verify-status', '\u2713 Checkpoint of ' + r.size + ' entries verified: the signature is valid and the root matches the stored log.');
      else status('t-verify-status', 'Checkpoint FAILED: signature ' + (r.signature_valid ? 'valid' : 'INVALID') + ', root ' + (r.root_matches_entries ? 'matches' : 'DOES NOT match') + ' the stored log.', true);
    }, function (e) { status('t-verify-status', e.message, true); });
  });
})();
