// Cordon chat frame: runs on the widget origin, inside the tenant's page, in a cross-origin iframe.
//
// - Text is data, never markup: every string reaches the DOM through textContent (the page's CSP also
//   enforces Trusted Types with no policy, so an HTML sink would throw).
// - The embedding page's origin comes from the browser (location.ancestorOrigins, or the origin of the
//   first message from the parent window), never from anything the page says about itself.
// - The visitor token lives in this origin's localStorage and is sent only inside the socket's hello frame.
// - Delivery: messages are shown once each, by seq. After a reconnect the frame syncs from the last seq it
//   has, and resends what was never acknowledged under the same client_msg_id (the server dedupes).
(function () {
  'use strict';

  var KEY = decodeURIComponent(location.pathname.split('/').pop() || '');
  var STORE_KEY = 'cordon.v1.' + KEY;
  var $ = function (id) { return document.getElementById(id); };
  var log = $('log'), input = $('input'), form = $('composer'), banner = $('banner');
  var statusLine = $('status'), typingLine = $('typing'), scroller = $('scroll');
  var intro = $('intro'), ended = $('ended');
  var allowed = (document.querySelector('meta[name="cordon-origins"]').content || '').split(' ').filter(Boolean);

  var parentOrigin = null;
  var identity = null;
  // What the agents' side panel shows (issue 20): the page (from the loader), the browser and its time zone.
  var context = { user_agent: String(navigator.userAgent || '').slice(0, 512) };
  try { context.time_zone = Intl.DateTimeFormat().resolvedOptions().timeZone || undefined; } catch (e) { /* none */ }
  var initialised = false;
  var ready = false;          // init received and remembered state loaded
  var isOpen = false;

  var ws = null;
  var welcomed = false;
  var fatal = false;
  var retries = 0;
  var retryTimer = 0;

  var conv = null;            // { id, state, agent }
  var lastSeq = 0;            // highest seq shown for conv
  var seen = {};              // seq -> true
  var pending = [];           // own messages not yet confirmed: { id, text, li, state }
  var byClientId = {};        // client_msg_id -> entry (pending or confirmed own message)
  var readByAgent = 0;
  var openRequested = false;
  var unread = 0;
  var readSent = 0;
  var typingSent = 0;
  var typingIdle = 0;
  var typingHide = 0;
  var saveTimer = 0;
  var saved = load();

  // ---- storage ----------------------------------------------------------------------------------------
  // localStorage first. Browsers that block third-party storage refuse it to an iframe; then the same state
  // lives in a partitioned, HttpOnly cookie that only /w/state on this origin reads and writes.

  function load() {
    try { return JSON.parse(localStorage.getItem(STORE_KEY) || '{}') || {}; } catch (e) { return {}; }
  }
  // `now`: at once, not 250 ms later (a rating given or skipped must hold even if the visitor reloads at once).
  function save(now) {
    try { localStorage.setItem(STORE_KEY, JSON.stringify(saved)); } catch (e) { /* blocked: the cookie keeps it */ }
    clearTimeout(saveTimer);
    saveTimer = setTimeout(function () {
      fetch('/w/state', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ visitor_token: saved.token, conversation_id: saved.conversation, read_seq: saved.read || 0,
          offered: saved.rated || [], contact: !!saved.contact })
      }).catch(function () { /* offline: the next save tries again */ });
    }, now ? 0 : 250);
  }
  function loadRemote() {
    if (saved.token) return Promise.resolve();
    return fetch('/w/state', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : {}; })
      .then(function (st) {
        if (!saved.token && st && st.visitor_token) {
          saved = { token: st.visitor_token, conversation: st.conversation_id, read: st.read_seq || 0,
            rated: Array.isArray(st.offered) ? st.offered : [], contact: st.contact ? 1 : 0 };
        }
      })
      .catch(function () { /* nothing remembered */ });
  }

  // ---- talking to the embedding page --------------------------------------------------------------------

  if (window.parent === window) {
    // Opened directly rather than embedded: nothing to do here.
    document.body.textContent = '';
    var p = document.createElement('p');
    p.className = 'standalone';
    p.textContent = 'This chat opens from the website it belongs to.';
    document.body.appendChild(p);
    return;
  }
  if (location.ancestorOrigins && location.ancestorOrigins.length) {
    parentOrigin = location.ancestorOrigins[0];
  }

  function toParent(msg) {
    if (!parentOrigin) return;
    msg.cordon = 1;
    window.parent.postMessage(msg, parentOrigin);
  }

  window.addEventListener('message', function (e) {
    if (e.source !== window.parent) return;
    if (parentOrigin === null) parentOrigin = e.origin;
    if (e.origin !== parentOrigin) return;
    // frame-ancestors already refused any other embedder; this is a second lock on the same door.
    if (allowed.indexOf(e.origin) < 0) return;
    var m = e.data;
    if (!m || typeof m !== 'object' || m.cordon !== 1) return;
    if (m.type === 'init') onInit(m);
    else if (m.type === 'open') setOpen(true);
    else if (m.type === 'close') setOpen(false);
  });

  function onInit(m) {
    var id = m.identity;
    // Loaders since issue 20 send their data-* attributes as they are (data.userId, …); older ones an identity.
    var d = m.data && typeof m.data === 'object' ? m.data : null;
    if (d && typeof d.userId === 'string' && typeof d.userSignature === 'string') {
      id = { user_id: d.userId, expires: d.userExpires, signature: d.userSignature, name: d.userName, email: d.userEmail };
    }
    if (id && typeof id === 'object' && typeof id.user_id === 'string' && typeof id.signature === 'string') {
      identity = { user_id: id.user_id.slice(0, 128), expires: Number(id.expires) || 0, signature: id.signature.slice(0, 256) };
      // Signed with the identity when present (docs/EMBEDDING.md); sent only when the tenant set them.
      if (typeof id.name === 'string') identity.name = id.name.slice(0, 512);
      if (typeof id.email === 'string') identity.email = id.email.slice(0, 512);
    }
    // The page the chat is on, for the agents' side panel: its address without query or fragment, and title.
    var p = Array.isArray(m.page) ? m.page : [];
    if (typeof p[0] === 'string') context.page_url = p[0].slice(0, 512);
    if (typeof p[1] === 'string') context.page_title = p[1].slice(0, 200);
    if (initialised) return;
    initialised = true;
    toParent({ type: 'resize', height: 600 });
    // Returning visitors reconnect at once, to show replies that came while they were away.
    loadRemote().then(function () {
      ready = true;
      if (saved.token || isOpen || pending.length) connect();
    });
  }

  function setOpen(open) {
    isOpen = open;
    if (open) {
      unread = 0;
      toParent({ type: 'unread', count: 0 });
      if (!ws && !fatal) connect();
      markRead();
      setTimeout(function () { input.focus(); scrollDown(true); }, 30);
    }
  }

  $('close').addEventListener('click', function () { setOpen(false); toParent({ type: 'close' }); });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') { setOpen(false); toParent({ type: 'close' }); }
  });
  document.addEventListener('visibilitychange', markRead);

  // ---- socket -------------------------------------------------------------------------------------------

  function connect() {
    if (ws || fatal || !ready) return;
    clearTimeout(retryTimer);
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/visitor';
    var sock;
    try { sock = new WebSocket(url); } catch (e) { scheduleReconnect(); return; }
    ws = sock;
    welcomed = false;
    sock.onopen = function () {
      var hello = { type: 'hello', v: 1, widget_key: KEY };
      if (saved.token) hello.visitor_token = saved.token;
      if (identity) hello.identity = identity;
      if (parentOrigin) hello.embed_origin = parentOrigin;
      hello.context = context;
      send(hello);
    };
    sock.onmessage = function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      if (f && typeof f.type === 'string') onFrame(f);
    };
    sock.onclose = function () {
      if (ws !== sock) return;
      ws = null;
      welcomed = false;
      pending.forEach(function (p) { if (p.state === 'sending') p.sentOn = false; });
      if (!fatal) scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    var delay = Math.min(15000, 1000 * Math.pow(2, retries)) * (0.75 + Math.random() * 0.5);
    retries += 1;
    showBanner(retries > 1 ? 'Connection lost. Reconnecting…' : 'Connecting…', false);
    retryTimer = setTimeout(connect, delay);
  }
  window.addEventListener('online', function () { if (!ws && !fatal) { retries = 0; connect(); } });

  function send(frame) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }

  function showBanner(text, isError) {
    banner.textContent = text;
    banner.className = isError ? 'banner error' : 'banner';
    banner.hidden = !text;
  }

  // ---- frames -------------------------------------------------------------------------------------------

  function onFrame(f) {
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'conversation': return onConversation(f.conversation, true);
      case 'conversation.updated': return onConversation(f.conversation, false);
      case 'message': return onMessage(f);
      case 'message.ack': return onAck(f);
      case 'synced': return onSynced(f);
      case 'typing': return onTyping(f);
      case 'read': return onRead(f);
      case 'notice': return onNotice(f);
      case 'error': return onError(f);
      case 'payment.form': return onPaymentForm(f);
      case 'rating.saved': return onRatingSaved(f);
      case 'contact.saved': return onContactSaved(f);
      case 'file.ticket': return onFileTicket(f);
      default: return undefined;
    }
  }

  // Agents online and about how long the wait is (issue 20), from the visitor's welcome: shown in the intro,
  // which is on screen only before the first message.
  function waitText(secs) {
    if (secs === undefined || secs === null) return '';
    if (secs < 60) return 'Usually replies in under a minute';
    if (secs < 3600) return 'Usually replies in about ' + Math.ceil(secs / 60) + ' min';
    return 'Usually replies in about ' + Math.ceil(secs / 3600) + ' h';
  }
  function renderAvailability(a) {
    var box = $('avail');
    box.textContent = '';
    if (!a) { box.hidden = true; return; }
    var dot = document.createElement('span');
    dot.className = 'dot' + (a.agents_online > 0 ? ' on' : '');
    dot.setAttribute('aria-hidden', 'true');
    var text = a.agents_online > 0
      ? (a.agents_online === 1 ? '1 agent online' : a.agents_online + ' agents online') +
        (waitText(a.wait_estimate_secs) ? ' · ' + waitText(a.wait_estimate_secs) : '')
      : 'No agent is online right now. Leave a message and we\'ll reply here.';
    box.appendChild(dot);
    box.appendChild(document.createTextNode(text));
    box.hidden = false;
  }

  // ---- offline and pre-chat forms (issue 20) ---------------------------------------------------------------
  // Before the first message, when the tenant turned them on: name, email and a question (pre-chat), or an email
  // while no agent is online (offline). Given once per visitor (remembered with the visitor token); the question
  // is then sent as the first message, through the composer's own path.
  var contactForm = $('contact'), contactFor = false, available = null;

  function needContact() {
    if (!available || saved.contact || conv || lastSeq > 0 || pending.length) return '';
    if (available.prechat_form) return 'prechat';
    if (available.offline_form && available.agents_online === 0) return 'offline';
    return '';
  }
  function renderContact() {
    var mode = needContact();
    contactForm.hidden = !mode;
    // Without a form the composer is as renderStatus left it.
    if (!mode) return;
    form.hidden = true;
    var offline = mode === 'offline';
    $('contact-title').textContent = offline ? 'We\'re offline right now' : 'Before we start';
    $('contact-hint').textContent = offline ? 'Leave your email and a message: we\'ll answer by email and here.' : '';
    $('c-name-row').hidden = offline;
    $('c-question-label').textContent = offline ? 'Your message' : 'Your question (optional)';
    $('c-question').required = offline;
    $('contact-send').textContent = offline ? 'Leave a message' : 'Start the chat';
  }
  contactForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (contactFor || !welcomed) return;
    contactFor = true;
    $('contact-error').hidden = true;
    var frame = { type: 'contact.set', email: $('c-email').value.trim() };
    var name = $('c-name').value.trim();
    if (name && !$('c-name-row').hidden) frame.name = name.slice(0, 100);
    send(frame);
  });
  function onContactSaved() {
    if (!contactFor) return;
    contactFor = false;
    saved.contact = 1;
    save(true);
    var q = $('c-question').value.trim();
    contactForm.hidden = true;
    form.hidden = false;
    if (q) { input.value = q; form.requestSubmit(); }
    else input.focus();
  }
  function contactRefused(f) {
    if (!contactFor) return false;
    contactFor = false;
    $('contact-error').textContent = f.code === 'bad_request' ? 'Please check your email address.' : 'That did not work; please try again.';
    $('contact-error').hidden = false;
    return true;
  }

  function onWelcome(f) {
    welcomed = true;
    renderAvailability(f.availability);
    available = f.availability || null;
    renderContact();
    retries = 0;
    showBanner('', false);
    if (f.visitor_token) {
      if (saved.token && saved.token !== f.visitor_token) resetTranscript();
      saved = { token: f.visitor_token };
      save();
    }
    var list = (f.conversations || []).slice().sort(function (a, b) { return b.created_at - a.created_at; });
    var current = null;
    if (conv) current = list.filter(function (c) { return c.id === conv.id; })[0] || null;
    if (!current) current = list.filter(function (c) { return c.state !== 'closed'; })[0] || list[0] || null;
    if (current) {
      if (!conv || conv.id !== current.id) resetTranscript();
      setConversation(current);
      send({ type: 'sync', conversation_id: current.id, after_seq: lastSeq });
    } else if (openRequested || pending.length || pendingUpload) {
      openConversation();
    }
    runPendingUpload();
  }

  function setConversation(c) {
    conv = { id: c.id, state: c.state, agent: c.agent };
    if (saved.conversation !== c.id) {
      saved.conversation = c.id;
      saved.read = 0;
      save();
    }
    renderStatus();
  }

  function onConversation(c, isNew) {
    if (!c) return;
    if (!isNew && (!conv || conv.id !== c.id)) return;  // an older conversation of this visitor
    if (isNew) {
      // A follow-up chat keeps the earlier transcript on screen, below a divider.
      if (conv && conv.id !== c.id) {
        resetTranscript(false);
        append(systemItem('New conversation'));
      } else if (!conv) {
        resetTranscript(false);
      }
      setConversation(c);
      openRequested = false;
      flushPending();
      runPendingUpload();
      return;
    }
    conv.state = c.state;
    conv.agent = c.agent;
    renderStatus();
  }

  function renderStatus() {
    statusLine.textContent = '';
    var dot = document.createElement('span');
    dot.className = 'dot';
    dot.setAttribute('aria-hidden', 'true');
    var text;
    if (!conv) text = 'Ask us anything';
    else if (conv.state === 'assigned' && conv.agent) { dot.className = 'dot on'; text = conv.agent.name + ' is here to help'; }
    else if (conv.state === 'queued') text = 'Waiting for the next free agent';
    else text = 'Chat ended';
    if (conv && conv.state !== 'closed') statusLine.appendChild(dot);
    statusLine.appendChild(document.createTextNode(text));
    var closed = !!(conv && conv.state === 'closed');
    // A closed chat takes no more messages: the prompt to start a new one replaces the composer, unless a new
    // chat is already being opened (a message typed or "Start a new chat" clicked).
    ended.hidden = !closed || openRequested;
    renderRating(closed && !openRequested);
    if (closed && !openRequested && !form.hidden && form.contains(document.activeElement)) {
      form.hidden = true;
      $('restart').focus();
    }
    form.hidden = closed && !openRequested;
    intro.hidden = !!(conv && (lastSeq > 0 || pending.length));
    renderContact();
  }

  function onSynced(f) {
    if (!conv || f.conversation_id !== conv.id) return;
    flushPending();
    markRead();
  }

  function onMessage(m) {
    if (!conv || m.conversation_id !== conv.id) return;
    var kind = m.sender && m.sender.kind;
    var mine = kind === 'visitor' && byClientId[m.client_msg_id];
    // An own message may have been acknowledged already; its echo still brings the stored (redacted) text.
    if (seen[m.seq] && !mine) return;
    seen[m.seq] = true;
    if (m.seq > lastSeq) lastSeq = m.seq;
    var file = !mine && (kind === 'visitor' || kind === 'agent') ? FILE_RE.exec(m.text || '') : null;
    if (file) {
      append(fileItem(m, file, kind === 'visitor'));
      if (kind === 'agent' && (!isOpen || document.hidden) && m.seq > (saved.read || 0)) {
        unread += 1;
        toParent({ type: 'unread', count: unread });
      }
    } else if (mine) {
      confirm(mine, m.seq, m.text, m.created_at);
    } else if (kind === 'system') {
      append(paymentItem(m) || systemItem(m.text));
    } else if (kind === 'visitor') {
      var e = ownItem(m.text);
      e.seq = m.seq;
      setOwnState(e, 'sent', m.created_at);
      byClientId[m.client_msg_id] = e;
      append(e.li);
    } else {
      append(agentItem(m.sender.name || 'Agent', m.text, m.created_at));
      if (!isOpen || document.hidden) {
        if (m.seq > (saved.read || 0)) {
          unread += 1;
          toParent({ type: 'unread', count: unread });
        }
      }
      hideTyping();
    }
    intro.hidden = true;
    markRead();
    updateReadMarks();
  }

  function onAck(f) {
    var e = byClientId[f.client_msg_id];
    if (e) confirm(e, f.seq, null, f.created_at);
  }

  function confirm(e, seq, text, at) {
    if (text !== null && text !== undefined) e.bubble.textContent = text;  // the stored, redacted text
    if (e.seq) return;
    e.seq = seq;
    seen[seq] = true;
    if (seq > lastSeq) lastSeq = seq;
    var i = pending.indexOf(e);
    if (i >= 0) pending.splice(i, 1);
    setOwnState(e, 'sent', at);
    updateReadMarks();
  }

  function onTyping(f) {
    if (!conv || f.conversation_id !== conv.id || !f.from || f.from.kind !== 'agent') return;
    clearTimeout(typingHide);
    if (f.active) {
      typingLine.textContent = (f.from.name || 'Agent') + ' is typing…';
      typingHide = setTimeout(hideTyping, 6000);
    } else {
      hideTyping();
    }
  }
  function hideTyping() { typingLine.textContent = ''; }

  function onRead(f) {
    if (!conv || f.conversation_id !== conv.id || !f.by || f.by.kind !== 'agent') return;
    if (f.seq > readByAgent) readByAgent = f.seq;
    updateReadMarks();
  }

  function onNotice(f) {
    if (f.conversation_id && conv && f.conversation_id !== conv.id) return;
    if (f.code === 'queued') append(noticeItem(f.message, false));
    else if (f.code === 'card_redacted') append(noticeItem(f.message, true));
  }

  function onError(f) {
    if (!f.ref && ratingRefused(f)) return;
    if (!f.ref && contactRefused(f)) return;
    if (!f.ref && paymentRefused(f)) return;
    var e = f.ref && byClientId[f.ref];
    if (e && !e.seq) {
      if (f.code === 'rate_limited') { setTimeout(function () { resend(e); }, 1500); return; }
      if (f.code === 'conversation_closed') {
        conv.state = 'closed';
        renderStatus();
        openConversation();
        return;
      }
      setOwnState(e, 'failed');
      e.error = f.message;
      return;
    }
    // Before welcome, rate_limited answers a hello whose visitor token came from an address that sent too many
    // unknown ones: close, and the reconnect schedule tries again later (PROTOCOL 3.1).
    if (f.code === 'rate_limited' && !welcomed && ws) { ws.close(); return; }
    switch (f.code) {
      case 'unknown_tenant':
        fatal = true;
        showBanner('Chat is not available on this site.', true);
        break;
      case 'identity_required':
      case 'identity_invalid':
      case 'identity_expired':
        fatal = true;
        showBanner('Please sign in again to chat with us.', true);
        break;
      case 'not_found':
        // The stored conversation is gone (or not ours): start afresh.
        if (conv && !welcomed) break;
        break;
      default:
        break;
    }
    if (fatal && ws) ws.close();
  }

  // ---- transcript ---------------------------------------------------------------------------------------

  function resetTranscript(clear) {
    if (clear !== false) log.textContent = '';
    seen = {};
    lastSeq = 0;
    readByAgent = 0;
    readSent = 0;
    var keep = pending.slice();
    byClientId = {};
    keep.forEach(function (p) { byClientId[p.id] = p; if (clear !== false) log.appendChild(p.li); });
  }

  function time(ms) {
    try {
      return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    } catch (e) { return ''; }
  }

  function node(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function agentItem(name, text, at) {
    var li = node('div', 'msg them');
    li.appendChild(node('span', 'sr-only', name + ' says:'));
    var nm = node('span', 'name', name);
    nm.setAttribute('aria-hidden', 'true');
    li.appendChild(nm);
    li.appendChild(node('div', 'bubble', text));
    var meta = node('span', 'meta', time(at));
    li.appendChild(meta);
    return li;
  }

  function ownItem(text) {
    var li = node('div', 'msg me');
    li.appendChild(node('span', 'sr-only', 'You:'));
    var bubble = node('div', 'bubble', text);
    li.appendChild(bubble);
    var meta = node('span', 'meta');
    var at = node('span', 'time');
    var state = node('span', 'state');
    meta.appendChild(at);
    meta.appendChild(state);
    li.appendChild(meta);
    return { li: li, bubble: bubble, at: at, stateEl: state, meta: meta, seq: 0, text: text };
  }

  function setOwnState(e, state, at) {
    e.state = state;
    e.li.className = 'msg me' + (state === 'sending' ? ' pending' : state === 'failed' ? ' failed' : '');
    if (at) e.at.textContent = time(at);
    var old = e.meta.querySelector('button');
    if (old) old.remove();
    if (state === 'sending') e.stateEl.textContent = 'Sending…';
    else if (state === 'failed') {
      e.stateEl.textContent = 'Not sent.';
      var b = node('button', '', 'Retry');
      b.type = 'button';
      b.addEventListener('click', function () { resend(e); });
      e.meta.appendChild(b);
    } else e.stateEl.textContent = '';
  }

  function updateReadMarks() {
    // "Read" under the newest own message the agent has read.
    var best = null;
    Object.keys(byClientId).forEach(function (k) {
      var e = byClientId[k];
      if (e.stateEl) { e.stateEl.classList.remove('read'); if (e.state === 'sent') e.stateEl.textContent = ''; }
      if (e.seq && e.seq <= readByAgent && (!best || e.seq > best.seq)) best = e;
    });
    if (best) { best.stateEl.textContent = '· Read'; best.stateEl.classList.add('read'); }
  }

  function systemItem(text) { return node('div', 'sys', text); }

  function noticeItem(text, warn) {
    var li = node('div', 'notice' + (warn ? ' warn' : ''), text);
    li.setAttribute('role', 'note');
    return li;
  }

  function append(li) {
    var near = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    var firstPending = pending.length ? pending[0].li : null;
    if (firstPending && firstPending.parentNode === log && li !== firstPending) log.insertBefore(li, firstPending);
    else log.appendChild(li);
    scrollDown(near);
  }

  function scrollDown(force) {
    if (force) scroller.scrollTop = scroller.scrollHeight;
  }

  // ---- sending ------------------------------------------------------------------------------------------

  function newId() {
    var b = new Uint8Array(9);
    crypto.getRandomValues(b);
    return 'w-' + Array.prototype.map.call(b, function (x) { return ('0' + x.toString(16)).slice(-2); }).join('');
  }

  function openConversation() {
    openRequested = true;
    send({ type: 'conversation.open' });
  }

  function flushPending() {
    if (!welcomed || !conv || conv.state === 'closed') return;
    pending.forEach(function (e) { if (e.state !== 'failed') transmit(e); });
  }

  function transmit(e) {
    if (!conv || !welcomed) return;
    send({ type: 'message.send', conversation_id: conv.id, client_msg_id: e.id, text: e.text });
  }

  function resend(e) {
    if (e.seq) return;
    setOwnState(e, 'sending');
    if (!conv || conv.state === 'closed') { if (welcomed) openConversation(); else connect(); return; }
    transmit(e);
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = input.value.replace(/\s+$/, '');
    if (!text.trim()) return;
    input.value = '';
    autosize();
    stopTyping();
    var e = ownItem(text);
    e.id = newId();
    setOwnState(e, 'sending');
    pending.push(e);
    byClientId[e.id] = e;
    log.appendChild(e.li);
    intro.hidden = true;
    ended.hidden = true;
    scrollDown(true);
    if (!ws) { connect(); return; }
    if (!welcomed) return;
    if (!conv || conv.state === 'closed') {
      if (!openRequested) openConversation();
      return;
    }
    transmit(e);
  });

  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  function autosize() {
    input.style.height = 'auto';
    input.style.height = Math.min(140, input.scrollHeight + 2) + 'px';
  }

  input.addEventListener('input', function () {
    autosize();
    if (!conv || conv.state === 'closed' || !welcomed) return;
    var now = Date.now();
    if (now - typingSent > 3000) {
      typingSent = now;
      send({ type: 'typing', conversation_id: conv.id, active: true });
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, 4000);
  });

  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingSent && conv && welcomed) send({ type: 'typing', conversation_id: conv.id, active: false });
    typingSent = 0;
  }

  $('restart').addEventListener('click', function () {
    ended.hidden = true;
    form.hidden = false;
    intro.hidden = true;
    if (welcomed) openConversation(); else { openRequested = true; connect(); }
    input.focus();
  });

  function markRead() {
    if (!conv || !isOpen || document.hidden) return;
    if (lastSeq > (saved.read || 0)) { saved.read = lastSeq; save(); }
    if (welcomed && lastSeq > readSent) {
      readSent = lastSeq;
      send({ type: 'read', conversation_id: conv.id, seq: lastSeq });
    }
  }

  // ---- end of chat: the rating (issue 20) ------------------------------------------------------------------
  // Offered once per conversation when it has ended: rated or skipped, it is not offered again (the last ten ids
  // are kept with the visitor token, in /w/state too; the server refuses a second rating anyway, answered as done).
  var rateForm = $('rate'), rateSend = $('rate-send'), rateError = $('rate-error'), rateThanks = $('rate-thanks');
  var rateComment = $('rate-comment'), starLabels = document.querySelectorAll('#stars label');
  var ratingFor = null;       // the conversation a rating.submit is in flight for
  var thankedFor = null;

  function offered(id) { return (saved.rated || []).indexOf(id) >= 0; }
  function markOffered(id) {
    var list = (saved.rated || []).filter(function (x) { return x !== id; });
    list.push(id);
    saved.rated = list.slice(-10);
    save(true);
  }
  function chosenScore() {
    var c = rateForm.querySelector('input[name="score"]:checked');
    return c ? Number(c.value) : 0;
  }
  function paintStars() {
    var n = chosenScore();
    Array.prototype.forEach.call(starLabels, function (l, i) { l.classList.toggle('on', i < n); });
    rateSend.disabled = !n || ratingFor !== null;
  }
  function renderRating(ended) {
    var id = conv && conv.id;
    var wasHidden = rateForm.hidden;
    rateForm.hidden = !(ended && id && !offered(id));
    rateThanks.hidden = !(ended && id && thankedFor === id);
    if (wasHidden && !rateForm.hidden) scrollDown(true);
  }
  rateForm.addEventListener('change', paintStars);
  rateForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var score = chosenScore();
    if (!score || !conv || ratingFor) return;
    ratingFor = conv.id;
    rateError.hidden = true;
    paintStars();
    var frame = { type: 'rating.submit', conversation_id: conv.id, score: score };
    var c = rateComment.value.trim();
    if (c) frame.comment = c.slice(0, 1000);
    send(frame);
  });
  $('rate-skip').addEventListener('click', function () {
    if (!conv) return;
    markOffered(conv.id);
    renderStatus();
    $('restart').focus();
  });
  function ratingDone(id, thanked) {
    ratingFor = null;
    markOffered(id);
    thankedFor = thanked ? id : null;
    rateComment.value = '';
    var c = rateForm.querySelector('input[name="score"]:checked');
    if (c) c.checked = false;
    paintStars();
    renderStatus();
  }
  function onRatingSaved(f) {
    if (f.rating && ratingFor === f.rating.conversation_id) ratingDone(ratingFor, true);
  }
  function ratingRefused(f) {
    if (!ratingFor) return false;
    var id = ratingFor;
    if (f.code === 'conflict') { ratingDone(id, true); return true; }
    if (f.code === 'bad_request' || f.code === 'conversation_open' || f.code === 'not_found' || f.code === 'rate_limited') {
      ratingFor = null;
      rateError.textContent = f.code === 'rate_limited' ? 'Please try again in a moment.' : 'Your rating could not be sent.';
      rateError.hidden = false;
      paintStars();
      return true;
    }
    return false;
  }

  // ---- files and images (issue 20) -----------------------------------------------------------------------
  // A file is a message of a fixed shape, "[file f_…] name (type, size)", from whoever sent it; the bytes are
  // fetched from this origin with a ticket the socket hands out (file.ticket), never put in a URL. Images are
  // shown from a blob: URL in an <img> (no script runs in an image); every other file is only ever saved.
  var FILE_RE = /^\[file (f_[A-Za-z0-9_-]{22})\] (.+) \((image\/png|image\/jpeg|image\/gif|image\/webp|application\/pdf|text\/plain), ([0-9.]+ [KM]?B)\)$/;
  var fileTicket = null, ticketWaiters = [], ticketTimer = 0, pendingUpload = null;
  var attach = $('attach'), picker = $('file');

  function onFileTicket(f) {
    fileTicket = { ticket: f.ticket, expires_at: f.expires_at };
    clearTimeout(ticketTimer);
    var w = ticketWaiters;
    ticketWaiters = [];
    w.forEach(function (x) { x.resolve(f.ticket); });
  }

  function failTickets() {
    var w = ticketWaiters;
    ticketWaiters = [];
    w.forEach(function (x) { x.reject(new Error('Not connected. Try again in a moment.')); });
  }

  function ticket() {
    if (fileTicket && fileTicket.expires_at - Date.now() > 60000) return Promise.resolve(fileTicket.ticket);
    return new Promise(function (resolve, reject) {
      ticketWaiters.push({ resolve: resolve, reject: reject });
      if (ticketWaiters.length > 1) return;
      if (!welcomed || !send({ type: 'file.ticket' })) { failTickets(); return; }
      ticketTimer = setTimeout(failTickets, 10000);
    });
  }

  function fetchFile(id) {
    return ticket().then(function (t) {
      return fetch('/w/files/' + encodeURIComponent(id), {
        credentials: 'omit', cache: 'no-store', headers: { 'X-Cordon-File-Ticket': t }
      });
    }).then(function (r) { return r.ok ? r.blob() : Promise.reject(new Error('not available')); });
  }

  function saveFile(id, name) {
    fetchFile(id).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = document.createElement('a');
      a.href = url;
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 30000);
    }).catch(function () { append(noticeItem('That file is not available.', true)); });
  }

  function fileItem(m, f, own) {
    var id = f[1], name = f[2], type = f[3], size = f[4];
    var li = node('div', own ? 'msg me' : 'msg them');
    var who = own ? 'You' : (m.sender.name || 'Agent');
    li.appendChild(node('span', 'sr-only', who + (own ? ' sent a file:' : ' sent a file:')));
    if (!own) {
      var nm = node('span', 'name', who);
      nm.setAttribute('aria-hidden', 'true');
      li.appendChild(nm);
    }
    var bubble = node('div', 'bubble file', '');
    bubble.setAttribute('data-file', id);
    if (/^image\//.test(type)) {
      var img = document.createElement('img');
      img.className = 'thumb';
      img.alt = name;
      bubble.appendChild(img);
      fetchFile(id).then(function (blob) { img.src = URL.createObjectURL(blob); })
        .catch(function () { img.replaceWith(node('span', 'filesize', 'Image not available')); });
    }
    var a = node('a', 'filelink', name);
    a.href = '#';
    a.setAttribute('aria-label', 'Save ' + name + ' (' + size + ')');
    a.addEventListener('click', function (ev) { ev.preventDefault(); saveFile(id, name); });
    bubble.appendChild(a);
    bubble.appendChild(node('span', 'filesize', size));
    li.appendChild(bubble);
    li.appendChild(node('span', 'meta', time(m.created_at)));
    return li;
  }

  function runPendingUpload() {
    if (!pendingUpload || !welcomed || !conv || conv.state === 'closed') return;
    var f = pendingUpload;
    pendingUpload = null;
    upload(f);
  }

  function upload(file) {
    var status = noticeItem('Sending ' + file.name + '…', false);
    append(status);
    intro.hidden = true;
    var convId = conv.id;
    ticket().then(function (t) {
      return fetch('/w/files?conversation_id=' + encodeURIComponent(convId) + '&name=' + encodeURIComponent(file.name), {
        method: 'POST', credentials: 'omit', cache: 'no-store', body: file,
        headers: { 'Content-Type': file.type || 'application/octet-stream', 'X-Cordon-File-Ticket': t }
      });
    }).then(function (r) {
      if (r.ok) { status.remove(); return undefined; }
      return r.json().then(function (j) {
        throw new Error((j && j.error && j.error.message) || 'The file was not sent.');
      }, function () { throw new Error('The file was not sent.'); });
    }).catch(function (e) {
      status.textContent = 'Not sent: ' + ((e && e.message) || 'the file was not sent.');
      status.className = 'notice warn';
    });
  }

  attach.addEventListener('click', function () { picker.click(); });
  picker.addEventListener('change', function () {
    var file = picker.files && picker.files[0];
    picker.value = '';
    if (!file) return;
    if (welcomed && conv && conv.state !== 'closed') { upload(file); return; }
    // No open chat yet: open one, then send it.
    pendingUpload = file;
    ended.hidden = true;
    if (!ws) connect();
    else if (welcomed && !openRequested) openConversation();
  });

  // ---- payments (issue 15, docs/PAYMENTS.md) -------------------------------------------------------------
  // The card form is the vault's own page on its own origin, framed here sandboxed: this frame cannot read
  // what is typed into it, and hears back only what the chat shows anyway ("Visa •••• 1111 saved"). A payment
  // request is a system message of a fixed shape (no person can send one); its button asks the server for
  // the form (payment.open), whose URL carries a one-use capability in its fragment.
  var PAY_REQUEST = /^Payment requested \((pr_[A-Za-z0-9_-]{22})\): (.+)$/;
  var PAY_SAVED = /^(.+ •••• \d{4}) saved \(token (tok_[A-Za-z0-9_-]{22}), payment (pr_[A-Za-z0-9_-]{22})\)$/;
  var payPanel = null, payOrigin = null, payAsked = null, paidRequests = {};

  function paymentItem(m) {
    var saved = PAY_SAVED.exec(m.text || '');
    if (saved) {
      paidRequests[saved[3]] = true;
      var done = document.querySelector('[data-payment="' + saved[3] + '"] button');
      if (done) { done.disabled = true; done.textContent = 'Paid'; }
      if (payPanel && payPanel.getAttribute('data-request') === saved[3]) closePayment();
      var ok = node('div', 'sys paid', saved[1] + ' saved');
      ok.appendChild(node('span', 'token', ' · ' + saved[2]));
      return ok;
    }
    var req = PAY_REQUEST.exec(m.text || '');
    if (!req) return null;
    var card = node('div', 'payreq', '');
    card.setAttribute('data-payment', req[1]);
    card.appendChild(node('p', 'paytitle', 'Payment requested'));
    card.appendChild(node('p', 'paywhat', req[2]));
    var b = node('button', 'paybtn', paidRequests[req[1]] ? 'Paid' : 'Pay by card');
    b.type = 'button';
    b.disabled = !!paidRequests[req[1]];
    b.addEventListener('click', function () {
      payAsked = req[1];
      if (!send({ type: 'payment.open', request_id: req[1] })) showBanner('Not connected. Try again in a moment.', true);
    });
    card.appendChild(b);
    return card;
  }

  function paymentRefused(f) {
    if (!payAsked) return false;
    if (['not_found', 'payment_not_open', 'payments_unavailable', 'forbidden'].indexOf(f.code) < 0) return false;
    var asked = payAsked;
    payAsked = null;
    var b = document.querySelector('[data-payment="' + asked + '"] button');
    if (b && f.code === 'payment_not_open') { b.disabled = true; b.textContent = 'No longer open'; }
    append(noticeItem(f.code === 'payments_unavailable' ? 'Card payments are not available right now.' :
      'This payment request is no longer open.', true));
    return true;
  }

  function closePayment() {
    if (payPanel && payPanel.parentNode) payPanel.parentNode.removeChild(payPanel);
    payPanel = null;
    payOrigin = null;
  }

  function onPaymentForm(f) {
    payAsked = null;
    var url;
    try { url = new URL(f.url); } catch (e) { return; }
    // Only the vault's origin, over the scheme it was given; the page's CSP (frame-src) says the same.
    if (!f.vault_origin || url.origin !== f.vault_origin || !/^https?:$/.test(url.protocol)) return;
    closePayment();
    payOrigin = url.origin;
    payPanel = node('div', 'paypanel', '');
    payPanel.setAttribute('data-request', f.request.id);
    var head = node('div', 'payhead', '');
    head.appendChild(node('span', 'paylabel', 'Card payment · ' + f.request.amount));
    var x = node('button', 'paycancel', 'Cancel');
    x.type = 'button';
    x.addEventListener('click', closePayment);
    head.appendChild(x);
    payPanel.appendChild(head);
    var frame = document.createElement('iframe');
    frame.className = 'payframe';
    frame.title = 'Card details, on the secure card vault';
    frame.setAttribute('sandbox', 'allow-scripts allow-same-origin');
    frame.setAttribute('referrerpolicy', 'no-referrer');
    frame.setAttribute('allow', "payment 'none'; camera 'none'; microphone 'none'; geolocation 'none'");
    frame.src = url.href;
    payPanel.appendChild(frame);
    append(payPanel);
  }

  window.addEventListener('message', function (e) {
    if (!payPanel || e.origin !== payOrigin) return;
    var d = e.data;
    if (!d || typeof d !== 'object' || d.type !== 'cordon-vault') return;
    if (d.state === 'saved' && typeof d.request_id === 'string') {
      paidRequests[d.request_id] = true;
      var b = document.querySelector('[data-payment="' + d.request_id + '"] button');
      if (b) { b.disabled = true; b.textContent = 'Paid'; }
      // The chat's own "saved" message follows from the server; the form has done its part.
      setTimeout(closePayment, 1200);
    }
  });
})();
