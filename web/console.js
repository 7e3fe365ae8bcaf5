// The agent console: sign-in, availability, the live queue and my chats, a conversation with its composer,
// and the searchable history. Everything a visitor wrote is shown with textContent, never parsed as HTML.
(function () {
  'use strict';
  var C = Cordon, h = C.h, $ = C.$;

  var me = null;          // GET /api/v1/me
  var myId = '';
  var canChat = false;
  var agents = [];        // GET /api/v1/agents
  var convs = {};         // id -> entry (see entry())
  var selected = null;    // id of the conversation on screen
  var historyMode = false;
  var ws = null;
  var welcomed = false;
  var retries = 0;
  var retryTimer = 0;
  var typingSentAt = 0;
  var typingIdle = 0;
  var soundOn = readPref('sound') !== 'off';
  var audio = null;
  var baseTitle = document.title;
  var flashTimer = 0;
  var historyCursor = null;
  var historyRows = [];

  function readPref(k) { try { return localStorage.getItem('cordon.console.' + k); } catch (e) { return null; } }
  function writePref(k, v) { try { localStorage.setItem('cordon.console.' + k, v); } catch (e) { /* ignore */ } }

  // ---- sign-in ------------------------------------------------------------------------------------------

  function showLogin(message) {
    $('app-view').hidden = true;
    $('login-view').hidden = false;
    var err = $('login-error');
    err.textContent = message || '';
    err.hidden = !message;
    var last = readPref('tenant');
    if (last && !$('login-tenant').value) $('login-tenant').value = last;
    ($('login-tenant').value ? $('login-user') : $('login-tenant')).focus();
  }

  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var tenant = $('login-tenant').value.trim();
    var username = $('login-user').value.trim();
    var password = $('login-pass').value;
    var err = $('login-error');
    if (!tenant || !username || !password) {
      err.textContent = 'Enter your company, username and password.';
      err.hidden = false;
      return;
    }
    var btn = $('login-submit');
    btn.disabled = true;
    btn.textContent = 'Signing in…';
    // The code field appears once the server asks for a second factor (issue 12); it is sent only when shown.
    var body = { tenant: tenant, username: username, password: password };
    if (!$('login-code-row').hidden) body.code = $('login-code').value.trim();
    C.api('POST', '/api/v1/auth/login', body)
      .then(function () {
        writePref('tenant', tenant);
        $('login-pass').value = '';
        $('login-code').value = '';
        $('login-code-row').hidden = true;
        return C.me().then(start);
      })
      .catch(function (e2) {
        $('login-code').value = '';
        if (e2.code === 'second_factor_required' && $('login-code-row').hidden) {
          // The password was right: keep it and ask for the code.
          $('login-code-row').hidden = false;
          err.textContent = e2.message;
          err.hidden = false;
          $('login-code').focus();
          return;
        }
        err.textContent = e2.code === 'bad_credentials'
          ? ($('login-code-row').hidden
            ? 'Wrong company, username or password. Check them and try again.'
            : 'Wrong company, username, password or code. Check them and try again.')
          : e2.message;
        err.hidden = false;
        $('login-pass').value = '';
        $('login-pass').focus();
      })
      .then(function () { btn.disabled = false; btn.textContent = 'Sign in'; });
  });

  $('logout').addEventListener('click', function () {
    if (ws) { var s = ws; ws = null; s.close(); }
    C.logout();
  });

  // ---- start --------------------------------------------------------------------------------------------

  function start(who) {
    me = who;
    convs = {};
    selected = null;
    myId = who.agent ? who.agent.id : '';
    canChat = who.scopes.indexOf('chat') >= 0;
    $('login-view').hidden = true;
    $('app-view').hidden = false;
    $('tenant-name').textContent = who.tenant.display_name;
    $('me-name').textContent = who.agent ? who.agent.display_name : '';
    // Admins manage the tenant there; auditors read its reports and audit log there.
    $('admin-link').hidden = who.scopes.indexOf('admin') < 0 && who.scopes.indexOf('audit:read') < 0;
    // The availability an agent chose survives reloads and reconnects (closing the socket takes an agent
    // offline on the server; the console puts back what the agent chose when it reconnects).
    var chosen = readPref('status:' + myId);
    setStatusUi(chosen || (who.agent ? who.agent.status : 'offline'));
    $('status-select').disabled = !canChat;
    setSound(soundOn);
    if (!canChat) {
      $('tab-live').hidden = true;
      showTab('history');
    }
    C.api('GET', '/api/v1/agents').then(function (list) {
      agents = list || [];
      fillAgentFilters();
      renderConv();
    }, function () { agents = []; });
    connect();
    renderLists();
  }

  // The server marks the page when the browser sent no session cookie: then there is no session to look for,
  // and asking /api/v1/me would only log a 401 in the browser's console on every load.
  if (document.body.getAttribute('data-session') === 'none') {
    showLogin('');
  } else {
    C.me().then(start, function (e) {
      if (e.status === 401) showLogin('');
      else showLogin(e.message);
    });
  }

  // ---- availability -------------------------------------------------------------------------------------

  function setStatusUi(status) {
    $('status-select').value = status;
    $('status-dot').className = 'dot ' + status;
  }

  $('status-select').addEventListener('change', function () {
    var s = $('status-select').value;
    $('status-dot').className = 'dot ' + s;
    writePref('status:' + myId, s);
    if (!send({ type: 'status.set', status: s })) C.toast('Not connected; your status will be sent when the connection is back.', true);
  });

  // ---- sound and title ----------------------------------------------------------------------------------

  function setSound(on) {
    soundOn = on;
    writePref('sound', on ? 'on' : 'off');
    var b = $('sound');
    b.setAttribute('aria-pressed', String(on));
    b.textContent = on ? 'Sound on' : 'Sound off';
  }
  $('sound').addEventListener('click', function () { setSound(!soundOn); unlockAudio(); });
  document.addEventListener('pointerdown', unlockAudio, { once: true });
  document.addEventListener('keydown', unlockAudio, { once: true });

  function unlockAudio() {
    if (audio || !window.AudioContext) return;
    try { audio = new AudioContext(); } catch (e) { audio = null; }
  }

  function beep() {
    if (!soundOn || !audio) return;
    try {
      var t = audio.currentTime;
      [0, 0.16].forEach(function (d, i) {
        var o = audio.createOscillator();
        var g = audio.createGain();
        o.frequency.value = i ? 1046 : 784;
        g.gain.setValueAtTime(0.0001, t + d);
        g.gain.exponentialRampToValueAtTime(0.18, t + d + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, t + d + 0.14);
        o.connect(g);
        g.connect(audio.destination);
        o.start(t + d);
        o.stop(t + d + 0.15);
      });
    } catch (e) { /* no sound */ }
  }

  function notify(text) {
    beep();
    C.toast(text, false);
    // Desktop notifications after the agent opted in (console-notify.js, issue 20).
    if (window.CordonNotify) window.CordonNotify(text);
    if (document.hasFocus()) return;
    clearInterval(flashTimer);
    var on = false;
    flashTimer = setInterval(function () {
      on = !on;
      document.title = on ? '● ' + text : titleWithCount();
    }, 1000);
  }
  window.addEventListener('focus', function () {
    clearInterval(flashTimer);
    document.title = titleWithCount();
    if (selected) markRead(selected);
  });

  function titleWithCount() {
    var n = 0;
    Object.keys(convs).forEach(function (id) { if (isMine(convs[id])) n += convs[id].unread; });
    var waiting = Object.keys(convs).filter(function (id) { return convs[id].view.state === 'queued'; }).length;
    var parts = [];
    if (n) parts.push(n + ' unread');
    if (waiting) parts.push(waiting + ' waiting');
    return (parts.length ? '(' + parts.join(', ') + ') ' : '') + baseTitle;
  }

  // ---- socket -------------------------------------------------------------------------------------------

  function connect() {
    if (ws) return;
    clearTimeout(retryTimer);
    var sock = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/agent');
    ws = sock;
    welcomed = false;
    sock.onopen = function () { sock.send(JSON.stringify({ type: 'hello', v: 1 })); };
    sock.onmessage = function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      if (f && typeof f.type === 'string') onFrame(f);
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      ws = null;
      welcomed = false;
      Object.keys(convs).forEach(function (id) { convs[id].synced = false; });
      var delay = Math.min(15000, 1000 * Math.pow(2, retries)) * (0.75 + Math.random() * 0.5);
      retries += 1;
      showConn('Connection lost. Reconnecting…');
      // A signed-out session cannot reconnect: check before trying again.
      C.me().then(function () { retryTimer = setTimeout(connect, delay); }, function (e) {
        if (e.status === 401) showLogin('Your session ended. Please sign in again.');
        else retryTimer = setTimeout(connect, delay);
      });
    };
  }

  function showConn(text) {
    var c = $('conn');
    c.textContent = text;
    c.hidden = !text;
  }

  function send(frame) {
    if (ws && ws.readyState === 1 && welcomed) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function onFrame(f) {
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'conversation':
      case 'conversation.updated': return upsert(f.conversation, true);
      case 'message': return onMessage(f);
      case 'message.ack': return onAck(f);
      case 'synced': return onSynced(f);
      case 'typing': return onTyping(f);
      case 'read': return onRead(f);
      case 'notice':
        if (f.code === 'status') {
          setStatusUi(f.message);
          if (me && me.agent) me.agent.status = f.message;
        }
        return undefined;
      case 'error': return onError(f);
      case 'payment.requested': return onPaymentRequested(f);
      case 'notes.updated': return window.CordonPanel ? window.CordonPanel.notesUpdated(f) : undefined;
      default: return undefined;
    }
  }

  function onWelcome(f) {
    welcomed = true;
    retries = 0;
    showConn('');
    var present = {};
    (f.conversations || []).forEach(function (c) { present[c.id] = true; upsert(c, false); });
    // Conversations that left the worklist while we were away.
    Object.keys(convs).forEach(function (id) {
      var e = convs[id];
      if (!present[id] && e.view.state !== 'closed' && id !== selected) delete convs[id];
    });
    Object.keys(convs).forEach(function (id) {
      if (isMine(convs[id]) || id === selected) sync(convs[id]);
    });
    // Put back the availability the agent chose (the server sets agents offline when their socket closes).
    if (canChat) send({ type: 'status.set', status: $('status-select').value });
    renderLists();
    renderConv();
  }

  function entry(view) {
    return {
      view: view, msgs: [], seqs: {}, lastSeq: 0, unread: 0, readSeq: 0, visitorRead: 0,
      synced: false, syncing: false, typing: false, typingTimer: 0, pending: {}
    };
  }

  function isMine(e) { return e.view.state === 'assigned' && e.view.agent && e.view.agent.id === myId; }

  function upsert(view, live) {
    if (!view) return;
    var e = convs[view.id];
    var wasQueued = e && e.view.state === 'queued';
    var wasMine = e && isMine(e);
    if (!e) e = convs[view.id] = entry(view);
    e.view = view;
    // welcome carries where this agent stopped reading, in whichever console that was.
    if (view.read_seq) setReadSeq(e, view.read_seq);
    if (live && view.state === 'queued' && !wasQueued) notify('A visitor is waiting');
    if (isMine(e) && !wasMine && live) notify('New chat assigned to you');
    if (!isMine(e) && view.state !== 'queued' && view.id !== selected) {
      delete convs[view.id];
    }
    renderLists();
    if (view.id === selected) renderConv();
  }

  function sync(e) {
    if (e.syncing) return;
    e.syncing = true;
    send({ type: 'sync', conversation_id: e.view.id, after_seq: e.lastSeq });
  }

  function onSynced(f) {
    var e = convs[f.conversation_id];
    if (!e) return;
    e.synced = true;
    e.syncing = false;
    if (f.conversation_id === selected) markRead(selected);
  }

  function onMessage(m) {
    var e = convs[m.conversation_id];
    if (!e) {
      // A message for a conversation we do not list yet (e.g. just assigned): fetch its state.
      e = convs[m.conversation_id] = entry({ id: m.conversation_id, state: 'assigned', visitor_id: '', agent: null, last_seq: 0, created_at: m.created_at, updated_at: m.created_at });
    }
    if (e.seqs[m.seq]) return;
    e.seqs[m.seq] = true;
    if (m.seq > e.lastSeq) e.lastSeq = m.seq;
    var own = m.sender && m.sender.kind === 'agent' && m.sender.id === myId && e.pending[m.client_msg_id];
    if (own) delete e.pending[m.client_msg_id];
    e.msgs.push({ msg: m });
    e.msgs.sort(function (a, b) { return (a.msg ? a.msg.seq : 1e12) - (b.msg ? b.msg.seq : 1e12); });
    if (m.sender && m.sender.kind === 'visitor') {
      e.typing = false;
      var visible = m.conversation_id === selected && document.hasFocus() && !historyMode;
      if (!visible && m.seq > e.readSeq) {
        e.unread += 1;
        if (isMine(e) && !document.hasFocus()) notify('New message from a visitor');
      }
    }
    if (m.conversation_id === selected) { renderTranscript(); markRead(selected); }
    renderLists();
  }

  function onAck(f) {
    var e = convs[f.conversation_id];
    if (!e) return;
    var p = e.pending[f.client_msg_id];
    if (p) { p.ack = f.seq; }
    if (f.conversation_id === selected) renderTranscript();
  }

  function onTyping(f) {
    var e = convs[f.conversation_id];
    if (!e || !f.from || f.from.kind !== 'visitor') return;
    e.typing = !!f.active;
    clearTimeout(e.typingTimer);
    if (e.typing) e.typingTimer = setTimeout(function () { e.typing = false; renderTyping(); renderLists(); }, 6000);
    renderTyping();
    renderLists();
  }

  function onRead(f) {
    var e = convs[f.conversation_id];
    if (!e || !f.by) return;
    if (f.by.kind === 'agent' && f.by.id === myId) {
      // Read in another console of mine (another tab or device): the unread count follows it.
      setReadSeq(e, f.seq);
      renderLists();
      return;
    }
    if (f.by.kind !== 'visitor') return;
    if (f.seq > e.visitorRead) e.visitorRead = f.seq;
    if (f.conversation_id === selected) renderTranscript();
  }

  /** This agent has read up to `seq` (here, in another session, or as stored): recount what is unread. */
  function setReadSeq(e, seq) {
    if (!(seq > e.readSeq)) return;
    e.readSeq = seq;
    e.unread = e.msgs.filter(function (it) {
      return it.msg && it.msg.sender.kind === 'visitor' && it.msg.seq > e.readSeq;
    }).length;
  }

  function onError(f) {
    if (f.code === 'session_revoked') {
      showLogin('Your session ended. Please sign in again.');
      return;
    }
    if (f.ref) {
      Object.keys(convs).forEach(function (id) {
        var p = convs[id].pending[f.ref];
        if (p) { p.failed = f.message; if (id === selected) renderTranscript(); }
      });
    }
    C.toast(f.message || 'Something went wrong.', true);
  }

  // ---- lists --------------------------------------------------------------------------------------------

  function visitorLabel(view) {
    return 'Visitor ' + C.shortId(view.visitor_id);
  }

  function preview(e) {
    for (var i = e.msgs.length - 1; i >= 0; i--) {
      var m = e.msgs[i].msg;
      if (m && m.sender.kind !== 'system') {
        return (m.sender.kind === 'agent' ? 'You: ' : '') + m.text.replace(/^\[file f_[A-Za-z0-9_-]{22}\] /, 'File: ');
      }
    }
    return e.view.state === 'queued' ? 'Waiting for an agent' : '';
  }

  function listItem(e) {
    var v = e.view;
    var sel = v.id === selected && !historyMode;
    var btn = h('button', { type: 'button', class: 'conv-item' + (sel ? ' selected' : '') + (e.unread ? ' has-unread' : ''),
      'aria-current': sel ? 'true' : null, 'data-id': v.id,
      onclick: function () { select(v.id); } },
      h('span', { class: 'conv-line' },
        h('span', { class: 'conv-name', text: visitorLabel(v) }),
        h('span', { class: 'conv-time', text: C.time(v.updated_at) })),
      h('span', { class: 'conv-line' },
        h('span', { class: 'conv-preview' + (e.typing ? ' typing' : ''), text: e.typing ? 'typing…' : preview(e) }),
        e.unread ? h('span', { class: 'badge', text: String(e.unread), 'aria-label': e.unread + ' unread' }) : null));
    return h('li', null, btn);
  }

  function ordered(kind) {
    return Object.keys(convs).map(function (id) { return convs[id]; }).filter(function (e) {
      return kind === 'queue' ? e.view.state === 'queued' : isMine(e);
    }).sort(function (a, b) {
      return kind === 'queue' ? a.view.created_at - b.view.created_at : b.view.updated_at - a.view.updated_at;
    });
  }

  function renderLists() {
    var q = ordered('queue'), m = ordered('mine');
    var ql = $('queue'), ml = $('mine');
    C.clear(ql);
    C.clear(ml);
    q.forEach(function (e) { ql.appendChild(listItem(e)); });
    m.forEach(function (e) { ml.appendChild(listItem(e)); });
    $('queue-count').textContent = String(q.length);
    $('mine-count').textContent = String(m.length);
    $('queue-empty').hidden = q.length > 0;
    $('mine-empty').hidden = m.length > 0;
    if (!flashTimer || document.hasFocus()) document.title = titleWithCount();
  }

  // ---- one conversation ---------------------------------------------------------------------------------

  function select(id) {
    historyMode = false;
    selected = id;
    var e = convs[id];
    if (e && !e.synced && welcomed) sync(e);
    markRead(id);
    renderLists();
    renderConv();
    if (e && isMine(e)) {
      $('reply').focus();
      // Fresh availability of the other agents, for the transfer list.
      C.api('GET', '/api/v1/agents').then(function (list) { agents = list || []; fillTransfer(); }, function () { /* keep the old list */ });
    }
  }

  function markRead(id) {
    var e = convs[id];
    if (!e || historyMode) return;
    e.unread = 0;
    if (e.lastSeq > e.readSeq && document.hasFocus()) {
      e.readSeq = e.lastSeq;
      if (isMine(e)) send({ type: 'read', conversation_id: id, seq: e.lastSeq });
    }
    renderLists();
  }

  function agentName(id) {
    for (var i = 0; i < agents.length; i++) if (agents[i].id === id) return agents[i].display_name;
    return 'another agent';
  }

  function renderConv() {
    var e = selected && convs[selected];
    $('app-view').classList.toggle('conv-open', !!e || historyMode);
    $('placeholder').hidden = !!e || historyMode;
    $('conv').hidden = !e && !historyMode;
    if (!e && !historyMode && window.CordonPanel) window.CordonPanel.show(null);
    if (historyMode || !e) return;
    var v = e.view;
    var mine = isMine(e);
    $('conv-title').textContent = visitorLabel(v);
    var sub = v.state === 'queued' ? 'Waiting since ' + C.time(v.created_at)
      : v.state === 'closed' ? 'Closed'
        : mine ? 'Assigned to you · started ' + C.time(v.created_at)
          : 'Assigned to ' + (v.agent ? v.agent.name : 'another agent');
    $('conv-sub').textContent = sub + ' · ' + v.id;
    if (window.CordonPanel) window.CordonPanel.show(v.id);
    $('accept').hidden = !(canChat && v.state === 'queued');
    $('transfer').hidden = !mine;
    $('transfer-to').hidden = !mine;
    $('close-conv').hidden = !(mine || (v.state !== 'closed' && me && me.scopes.indexOf('admin') >= 0 && v.state === 'assigned'));
    $('composer').hidden = !mine;
    showPaymentButton(mine && v.state === 'assigned');
    var note = $('readonly-note');
    note.hidden = mine;
    note.textContent = v.state === 'queued' ? 'Accept this chat to reply (Alt+A).'
      : v.state === 'closed' ? 'This conversation is closed.'
        : mine ? '' : 'This chat is handled by ' + (v.agent ? v.agent.name : 'another agent') + '.';
    fillTransfer();
    renderTranscript();
    renderTyping();
  }

  function fillTransfer() {
    var sel = $('transfer-to');
    var current = sel.value;
    C.clear(sel);
    // Only agents who are signed in and available: a chat handed to someone offline would sit unanswered.
    var others = agents.filter(function (a) {
      return a.id !== myId && !a.disabled && a.role !== 'auditor' && a.status !== 'offline';
    });
    if (!others.length) sel.appendChild(h('option', { value: '', text: 'No one else online' }));
    others.forEach(function (a) {
      sel.appendChild(h('option', { value: a.id, text: a.display_name + ' · ' + a.status }));
    });
    if (current) sel.value = current;
    $('transfer').disabled = !others.length;
  }

  function renderTranscript(list, readOnly) {
    var ol = $('transcript');
    var e = selected && convs[selected];
    var items = list || (e ? e.msgs.concat(Object.keys(e.pending).map(function (k) { return e.pending[k]; })) : []);
    var atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 60;
    C.clear(ol);
    var lastOwnRead = null;
    if (!readOnly && e) {
      items.forEach(function (it) {
        if (it.msg && it.msg.sender.kind === 'agent' && it.msg.seq <= e.visitorRead) lastOwnRead = it;
      });
    }
    items.forEach(function (it) {
      var m = it.msg;
      if (!m) {
        // An own reply not yet confirmed.
        ol.appendChild(h('div', { class: 'msg out pending' },
          h('span', { class: 'sr-only', text: 'You:' }),
          h('div', { class: 'bubble', text: it.text }),
          h('span', { class: 'meta' }, it.failed ? h('span', { class: 'fail', text: 'Not sent: ' + it.failed }) : (it.ack ? 'Sent' : 'Sending…'))));
        return;
      }
      if (m.sender.kind === 'system') {
        ol.appendChild(h('div', { class: 'sys', text: m.text }));
        return;
      }
      var out = m.sender.kind === 'agent';
      var fileBubble = window.CordonFiles && window.CordonFiles.bubble(m);
      ol.appendChild(h('div', { class: 'msg ' + (out ? 'out' : 'in') },
        h('span', { class: 'name', text: out ? m.sender.name : 'Visitor' }),
        fileBubble || h('div', { class: 'bubble', text: m.text }),
        h('span', { class: 'meta' }, C.time(m.created_at), it === lastOwnRead ? h('span', { class: 'seen', text: ' · Seen' }) : null)));
    });
    if (!items.length) ol.appendChild(h('div', { class: 'sys', text: 'No messages yet.' }));
    if (atBottom || !list) ol.scrollTop = ol.scrollHeight;
  }

  function renderTyping() {
    var e = selected && convs[selected];
    $('typing').textContent = e && e.typing && !historyMode ? 'Visitor is typing…' : '';
  }

  // ---- actions ------------------------------------------------------------------------------------------

  function newId() {
    var b = new Uint8Array(9);
    crypto.getRandomValues(b);
    return 'a-' + Array.prototype.map.call(b, function (x) { return ('0' + x.toString(16)).slice(-2); }).join('');
  }

  $('composer').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var e = selected && convs[selected];
    var box = $('reply');
    var text = box.value.replace(/\s+$/, '');
    if (!e || !isMine(e) || !text.trim()) return;
    var id = newId();
    e.pending[id] = { text: text, id: id };
    if (!send({ type: 'message.send', conversation_id: e.view.id, client_msg_id: id, text: text })) {
      e.pending[id].failed = 'not connected';
    }
    stopTyping(e);
    box.value = '';
    renderTranscript();
  });

  $('reply').addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $('composer').requestSubmit();
    }
  });

  $('reply').addEventListener('input', function () {
    var e = selected && convs[selected];
    if (!e || !isMine(e)) return;
    var now = Date.now();
    if (now - typingSentAt > 3000) {
      typingSentAt = now;
      send({ type: 'typing', conversation_id: e.view.id, active: true });
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(function () { stopTyping(e); }, 4000);
  });

  function stopTyping(e) {
    clearTimeout(typingIdle);
    if (typingSentAt) send({ type: 'typing', conversation_id: e.view.id, active: false });
    typingSentAt = 0;
  }

  function accept() {
    var e = selected && convs[selected];
    if (!e || e.view.state !== 'queued') {
      var first = ordered('queue')[0];
      if (!first) { C.toast('No one is waiting.', false); return; }
      select(first.view.id);
      e = first;
    }
    send({ type: 'conversation.accept', conversation_id: e.view.id });
    setTimeout(function () { $('reply').focus(); }, 50);
  }

  function closeCurrent() {
    var e = selected && convs[selected];
    if (!e || e.view.state === 'closed') return;
    send({ type: 'conversation.close', conversation_id: e.view.id });
  }

  function next() {
    var list = ordered('mine').concat(ordered('queue'));
    if (!list.length) return;
    var i = -1;
    for (var k = 0; k < list.length; k++) if (list[k].view.id === selected) i = k;
    for (var j = 1; j <= list.length; j++) {
      var cand = list[(i + j) % list.length];
      if (cand.unread) { select(cand.view.id); return; }
    }
    select(list[(i + 1) % list.length].view.id);
  }

  $('back').addEventListener('click', function () {
    selected = null;
    historyMode = false;
    renderLists();
    renderConv();
  });
  $('accept').addEventListener('click', accept);
  $('close-conv').addEventListener('click', closeCurrent);
  $('transfer').addEventListener('click', function () {
    var e = selected && convs[selected];
    var to = $('transfer-to').value;
    if (!e || !to) return;
    send({ type: 'conversation.transfer', conversation_id: e.view.id, agent_id: to });
    C.toast('Transferred to ' + agentName(to) + '.', false);
  });

  document.addEventListener('keydown', function (ev) {
    if (!ev.altKey || ev.ctrlKey || ev.metaKey || $('app-view').hidden) return;
    var handled = true;
    switch (ev.code) {
      case 'KeyA': if (canChat) accept(); break;
      case 'KeyN': if (historyMode) showTab('live'); next(); break;
      case 'KeyC': closeCurrent(); break;
      case 'KeyR': if (!$('composer').hidden) $('reply').focus(); break;
      default: handled = false;
    }
    if (handled) ev.preventDefault();
  });

  // ---- tabs and history ---------------------------------------------------------------------------------

  function showTab(which) {
    var live = which === 'live';
    $('tab-live').setAttribute('aria-selected', String(live));
    $('tab-history').setAttribute('aria-selected', String(!live));
    $('tab-live').tabIndex = live ? 0 : -1;
    $('tab-history').tabIndex = live ? -1 : 0;
    $('live-panel').hidden = !live;
    $('history-panel').hidden = live;
    if (!live && !historyRows.length) searchHistory(false);
    if (live && historyMode) { historyMode = false; renderConv(); }
  }
  $('tab-live').addEventListener('click', function () { showTab('live'); });
  $('tab-history').addEventListener('click', function () { showTab('history'); });
  [$('tab-live'), $('tab-history')].forEach(function (t) {
    t.addEventListener('keydown', function (ev) {
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        var other = t.id === 'tab-live' ? $('tab-history') : $('tab-live');
        if (other.hidden) return;
        other.focus();
        other.click();
      }
    });
  });

  function fillAgentFilters() {
    var sel = $('h-agent');
    agents.forEach(function (a) { sel.appendChild(h('option', { value: a.id, text: a.display_name })); });
  }

  $('history-form').addEventListener('submit', function (ev) { ev.preventDefault(); searchHistory(false); });
  $('history-more').addEventListener('click', function () { searchHistory(true); });

  function searchHistory(more) {
    $('history-note').hidden = true;
    // By words in messages (issue 20): the tenant's recent history, opened on the server, nothing indexed.
    var words = $('h-words').value.trim();
    if (words) {
      C.api('GET', '/api/v1/search/messages?limit=50&q=' + encodeURIComponent(words)).then(renderHits, function (e) {
        C.toast(e.message, true);
      });
      return;
    }
    var q = $('h-search').value.trim();
    if (/^c_[A-Za-z0-9_-]+$/.test(q)) {
      C.api('GET', '/api/v1/conversations/' + encodeURIComponent(q)).then(function (c) {
        historyRows = [c];
        historyCursor = null;
        renderHistory();
      }, function () { historyRows = []; historyCursor = null; renderHistory(); });
      return;
    }
    // By tag or priority (issue 20): the conversations so marked, most recently marked first.
    var tag = $('h-tag').value.trim().toLowerCase(), prio = $('h-priority').value;
    if (tag || prio) {
      var tp = new URLSearchParams();
      if (tag) tp.set('tag', tag);
      if (prio) tp.set('priority', prio);
      tp.set('limit', '100');
      C.api('GET', '/api/v1/conversation-tags?' + tp.toString()).then(function (page) {
        historyRows = page.conversations.map(function (t) { return t.conversation; });
        historyCursor = null;
        renderHistory();
      }, function (e) { C.toast(e.message, true); });
      return;
    }
    var params = new URLSearchParams();
    params.set('limit', '25');
    if ($('h-state').value) params.set('state', $('h-state').value);
    if ($('h-agent').value) params.set('agent_id', $('h-agent').value);
    if (/^v_[A-Za-z0-9_-]+$/.test(q)) params.set('visitor_id', q);
    if (more && historyCursor) params.set('cursor', historyCursor);
    C.api('GET', '/api/v1/conversations?' + params.toString()).then(function (page) {
      historyRows = more ? historyRows.concat(page.conversations) : page.conversations;
      historyCursor = page.next_cursor || null;
      renderHistory();
    }, function (e) { C.toast(e.message, true); });
  }

  function renderHits(r) {
    var ul = $('history');
    C.clear(ul);
    historyRows = [];
    historyCursor = null;
    r.hits.forEach(function (hit) {
      var c = hit.conversation;
      ul.appendChild(h('li', null, h('button', { type: 'button', class: 'conv-item hit', onclick: function () { openHistory(c); } },
        h('span', { class: 'conv-line' },
          h('span', { class: 'conv-name', text: visitorLabel(c) }),
          h('span', { class: 'conv-time', text: C.date(hit.created_at) + ' ' + C.time(hit.created_at) })),
        h('span', { class: 'conv-snippet', text: (hit.sender_kind === 'agent' ? 'Agent: ' : hit.sender_kind === 'visitor' ? 'Visitor: ' : '') + hit.snippet }))));
    });
    $('history-empty').hidden = r.hits.length > 0;
    $('history-more').hidden = true;
    var note = 'Searched ' + r.scanned_messages + ' messages in the latest ' + r.scanned_conversations + ' conversations.';
    if (r.truncated) note += ' Showing the first matches; older history was not searched.';
    $('history-note').textContent = note;
    $('history-note').hidden = false;
  }

  function renderHistory() {
    var ul = $('history');
    C.clear(ul);
    var q = $('h-search').value.trim().toLowerCase();
    var rows = historyRows.filter(function (c) {
      if (!q || /^[cv]_/.test(q)) return true;
      var hay = [c.id, c.visitor_id, c.agent ? c.agent.name : '', c.state].join(' ').toLowerCase();
      return hay.indexOf(q) >= 0;
    });
    rows.forEach(function (c) {
      ul.appendChild(h('li', null, h('button', { type: 'button', class: 'conv-item', onclick: function () { openHistory(c); } },
        h('span', { class: 'conv-line' },
          h('span', { class: 'conv-name', text: visitorLabel(c) }),
          h('span', { class: 'conv-time', text: C.date(c.created_at) + ' ' + C.time(c.created_at) })),
        h('span', { class: 'conv-line' },
          h('span', { class: 'conv-preview', text: (c.agent ? c.agent.name : 'No agent') }),
          h('span', { class: 'pill ' + c.state, text: c.state })))));
    });
    $('history-empty').hidden = rows.length > 0;
    $('history-more').hidden = !historyCursor;
  }

  // The visitor panel (console-visitor.js) opens past conversations as history does.
  window.CordonConsole = { openHistory: openHistory, current: function () { return selected; } };

  function openHistory(c) {
    historyMode = true;
    selected = null;
    $('app-view').classList.add('conv-open');
    renderLists();
    $('placeholder').hidden = true;
    $('conv').hidden = false;
    $('conv-title').textContent = visitorLabel(c);
    $('conv-sub').textContent = (c.agent ? c.agent.name : 'No agent') + ' · ' + c.state + ' · ' + C.date(c.created_at) + ' · ' + c.id;
    if (window.CordonPanel) window.CordonPanel.show(c.id);
    ['accept', 'transfer', 'transfer-to', 'close-conv', 'composer'].forEach(function (id) { $(id).hidden = true; });
    showPaymentButton(false);
    $('readonly-note').hidden = false;
    $('readonly-note').textContent = 'History is read-only.';
    $('typing').textContent = '';
    var all = [];
    (function page(after) {
      C.api('GET', '/api/v1/conversations/' + encodeURIComponent(c.id) + '/messages?limit=500&after_seq=' + after).then(function (p) {
        all = all.concat(p.messages.map(function (m) { return { msg: m }; }));
        if (p.next_after_seq) page(p.next_after_seq);
        else renderTranscript(all, true);
      }, function (e) { C.toast(e.message, true); });
    })(0);
  }

  // ---- payments (issue 15, docs/PAYMENTS.md) -------------------------------------------------------------
  // The agent asks for a payment; the visitor pays in the card vault's own form, which this console never
  // sees. The chat then shows "Visa •••• 1111 saved" with the token id, like any system message.
  var payForm = null;

  function showPaymentButton(show) {
    var b = $('request-payment');
    if (!b) {
      // On a phone the actions share one row: the button shows "Pay" there, its name stays "Request payment".
      b = h('button', { id: 'request-payment', type: 'button', class: 'secondary', 'aria-label': 'Request payment',
        onclick: togglePaymentForm }, h('span', { class: 'pay-long', text: 'Request payment' }),
        h('span', { class: 'pay-short', text: 'Pay', 'aria-hidden': 'true' }));
      $('close-conv').parentNode.insertBefore(b, $('close-conv'));
    }
    b.hidden = !show;
    if (!show && payForm) { payForm.parentNode.removeChild(payForm); payForm = null; }
  }

  function togglePaymentForm() {
    if (payForm) { payForm.parentNode.removeChild(payForm); payForm = null; return; }
    var amount = h('input', { id: 'pay-amount', inputmode: 'decimal', placeholder: '49.00', required: true, autocomplete: 'off' });
    var currency = h('input', { id: 'pay-currency', value: 'EUR', maxlength: 3, size: 4, autocomplete: 'off' });
    var desc = h('input', { id: 'pay-desc', maxlength: 200, placeholder: 'What it is for', required: true, autocomplete: 'off' });
    payForm = h('form', { id: 'payment-form', class: 'payment-form', 'aria-label': 'Request a payment' },
      h('label', { for: 'pay-amount', text: 'Amount' }), amount,
      h('label', { for: 'pay-currency', text: 'Currency' }), currency,
      h('label', { for: 'pay-desc', text: 'For' }), desc,
      h('button', { type: 'submit', class: 'primary', text: 'Send request' }),
      h('button', { type: 'button', class: 'ghost', text: 'Cancel', onclick: togglePaymentForm }));
    payForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var e = selected && convs[selected];
      var m = /^(\d{1,9})(?:[.,](\d{1,2}))?$/.exec(amount.value.trim());
      var cur = currency.value.trim().toUpperCase();
      if (!e || !m) { C.toast('Enter the amount, e.g. 49.00.', true); amount.focus(); return; }
      if (!/^[A-Z]{3}$/.test(cur)) { C.toast('The currency is a three-letter code such as EUR.', true); currency.focus(); return; }
      if (!desc.value.trim()) { C.toast('Say what the payment is for.', true); desc.focus(); return; }
      var minor = Number(m[1]) * 100 + Number(((m[2] || '') + '00').slice(0, 2));
      send({ type: 'payment.request', conversation_id: e.view.id, amount_minor: minor, currency: cur,
        description: desc.value.trim() });
    });
    var composer = $('composer');
    composer.parentNode.insertBefore(payForm, composer);
    amount.focus();
  }

  function onPaymentRequested(f) {
    if (payForm) { payForm.parentNode.removeChild(payForm); payForm = null; }
    C.toast('Payment request sent: ' + f.request.amount + '. The visitor pays in the secure card form.', false);
  }
})();
