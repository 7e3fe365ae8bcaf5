// Who the visitor is (issue 20): the side panel beside a conversation in the console. It reads
// GET /api/v1/conversations/{id}/visitor (conversations:read, audited) and shows the verified name and email,
// the page and browser of the last visit, the visitor's local time and their past conversations. Everything
// goes in as textContent; the page address is text, never a link the agent could be tricked into opening.
(function () {
  'use strict';
  var C = Cordon, h = C.h, $ = C.$;
  var shown = null;       // conversation id on screen
  var profile = null;     // its profile, once loaded
  var cache = {};         // conversation id -> { at, profile }
  var clock = 0;
  var notes = null;       // { notes, tags, priority } of the conversation on screen (issue 20, item 6)
  var rated = false;      // the conversation on screen has a rating (issue 20, item 9)
  var ratingAt = 0;       // when it was last asked for

  function panel() { return $('vpanel'); }

  function fact(dl, term, value, extra) {
    if (!value) return;
    dl.appendChild(h('dt', { text: term }));
    dl.appendChild(h('dd', null, h('span', { class: 'vp-value', text: value }), extra || null));
  }

  function localTime(zone) {
    try {
      return new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', weekday: 'short', timeZone: zone }).format(new Date());
    } catch (e) {
      return '';
    }
  }

  function render() {
    var p = panel();
    if (!p) return;
    var dl = $('vp-facts');
    var past = $('vp-past');
    C.clear(dl);
    C.clear(past);
    clearInterval(clock);
    $('vp-status').textContent = shown && !profile ? 'Loading…' : '';
    if (!profile) return;
    var verified = profile.user_id ? h('span', { class: 'pill verified', text: 'verified' }) : null;
    fact(dl, 'Name', profile.name, verified);
    fact(dl, 'Email', profile.email, profile.name ? null : verified);
    fact(dl, 'User id', profile.user_id, profile.name || profile.email ? null : verified);
    if (!profile.user_id) fact(dl, 'Identity', 'Not verified (anonymous visitor)');
    // What the visitor typed in a pre-chat or offline form (issue 20): unverified, said so.
    if (profile.contact) {
      fact(dl, 'Contact name', profile.contact.name);
      fact(dl, 'Contact email', profile.contact.email, h('span', { class: 'pill from-form', text: 'from the chat form' }));
    }
    fact(dl, 'Page', profile.page_title);
    fact(dl, profile.page_title ? 'Address' : 'Page', profile.page_url);
    var browser = [profile.browser, profile.os].filter(function (x) { return x && x !== 'unknown'; });
    fact(dl, 'Browser', browser.length ? browser.join(' on ') : '');
    if (profile.time_zone) {
      fact(dl, 'Local time', localTime(profile.time_zone) + ' (' + profile.time_zone + ')');
      // The visitor's clock moves on while the agent reads.
      clock = setInterval(function () { if (profile) render(); }, 60000);
    }
    if (profile.updated_at) fact(dl, 'Last seen', C.date(profile.updated_at) + ' ' + C.time(profile.updated_at));
    var list = profile.past_conversations || [];
    $('vp-past-empty').hidden = list.length > 0;
    list.forEach(function (c) {
      past.appendChild(h('li', null, h('button', {
        type: 'button', class: 'conv-item',
        onclick: function () { if (window.CordonConsole) window.CordonConsole.openHistory(c); }
      },
      h('span', { class: 'conv-line' },
        h('span', { class: 'conv-name', text: C.date(c.created_at) + ' ' + C.time(c.created_at) }),
        h('span', { class: 'pill ' + c.state, text: c.state })),
      h('span', { class: 'conv-preview', text: c.agent ? c.agent.name : 'No agent' }))));
    });
  }

  function renderNotes() {
    var list = $('vp-notes');
    C.clear(list);
    $('vp-notes-empty').hidden = !!(notes && notes.notes.length);
    if (!notes) return;
    notes.notes.forEach(function (n) {
      list.appendChild(h('li', { class: 'vp-note' },
        h('span', { class: 'vp-note-meta', text: n.agent.name + ' · ' + C.date(n.created_at) + ' ' + C.time(n.created_at) }),
        h('span', { class: 'vp-note-text', text: n.text })));
    });
    if (document.activeElement !== $('vp-tags')) $('vp-tags').value = notes.tags.join(', ');
    $('vp-priority').value = notes.priority;
  }

  function loadNotes(conversationId) {
    notes = null;
    renderNotes();
    C.api('GET', '/api/v1/conversations/' + encodeURIComponent(conversationId) + '/notes').then(function (v) {
      if (shown !== conversationId) return;
      notes = v;
      renderNotes();
    }, function () { /* a role without conversations:read sees no notes */ });
  }

  // The visitor's rating of the chat once it ended (issue 20, item 9): stars, score and the card-masked comment.
  function loadRating(conversationId) {
    var box = $('vp-rating');
    if (!box) return;
    rated = false;
    ratingAt = Date.now();
    C.clear(box);
    box.appendChild(h('p', { class: 'empty-note', text: 'Not rated.' }));
    C.api('GET', '/api/v1/conversations/' + encodeURIComponent(conversationId) + '/rating').then(function (v) {
      if (shown !== conversationId || !v.rating) return;
      rated = true;
      var r = v.rating, stars = h('span', { class: 'stars', 'aria-hidden': 'true' });
      for (var i = 1; i <= 5; i++) stars.appendChild(h('span', { class: i <= r.score ? '' : 'off', text: '★' }));
      C.clear(box);
      box.appendChild(h('p', null, stars, h('span', { class: 'score', text: r.score + ' of 5' }),
        r.comment ? h('span', { class: 'comment', text: r.comment }) : null,
        h('span', { class: 'when', text: C.date(r.created_at) + ' ' + C.time(r.created_at) })));
    }, function () { /* a role without conversations:read sees no rating */ });
  }

  /** Show the panel for a conversation (or nothing for `null`). */
  function show(conversationId) {
    var p = panel();
    if (!p) return;
    p.hidden = !conversationId;
    $('vp-toggle').hidden = !conversationId;
    if (conversationId === shown && profile) {
      // The visitor rates after the chat ends: look again now and then while it is on screen (each look is audited).
      if (!rated && Date.now() - ratingAt > 10000) loadRating(conversationId);
      return;
    }
    shown = conversationId;
    profile = null;
    if (!conversationId) { render(); return; }
    loadNotes(conversationId);
    loadRating(conversationId);
    var hit = cache[conversationId];
    if (hit && Date.now() - hit.at < 30000) { profile = hit.profile; render(); return; }
    render();
    C.api('GET', '/api/v1/conversations/' + encodeURIComponent(conversationId) + '/visitor').then(function (v) {
      cache[conversationId] = { at: Date.now(), profile: v };
      if (shown !== conversationId) return;
      profile = v;
      render();
    }, function (e) {
      if (shown !== conversationId) return;
      $('vp-status').textContent = e.status === 403 ? 'Your role does not show visitor details.' : e.message;
    });
  }

  // On narrow screens the panel opens over the transcript from the header's "Visitor" button.
  document.addEventListener('DOMContentLoaded', function () {
    var t = $('vp-toggle');
    if (!t) return;
    // Internal notes (agents only, never sent to the visitor), tags and priority.
    $('vp-note-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var id = shown, box = $('vp-note');
      var text = box.value.trim();
      if (!id || !text) return;
      C.api('POST', '/api/v1/conversations/' + encodeURIComponent(id) + '/notes', { text: text }).then(function (n) {
        box.value = '';
        $('vp-note-status').textContent = 'Note added (only your team sees it).';
        // The change's notes.updated may have brought it already.
        if (shown === id && notes && !notes.notes.some(function (x) { return x.id === n.id; })) { notes.notes.push(n); renderNotes(); }
      }, function (e) { $('vp-note-status').textContent = e.message; });
    });
    $('vp-meta-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var id = shown;
      if (!id) return;
      var tags = $('vp-tags').value.split(',').map(function (x) { return x.trim().toLowerCase(); }).filter(Boolean);
      var priority = $('vp-priority').value;
      C.api('PUT', '/api/v1/conversations/' + encodeURIComponent(id) + '/meta', { tags: tags, priority: priority }).then(function () {
        $('vp-meta-status').textContent = 'Saved.';
        if (shown === id && notes) { notes.tags = tags; notes.priority = priority; renderNotes(); }
      }, function (e) { $('vp-meta-status').textContent = e.message; });
    });
    t.addEventListener('click', function () {
      var open = !$('conv').classList.contains('vp-open');
      $('conv').classList.toggle('vp-open', open);
      t.setAttribute('aria-expanded', String(open));
    });
  });

  // Another console (a colleague's, or this agent's on another device) changed the notes, tags or priority of a
  // conversation: read them again if it is the one on screen (an audited read; the frame carries no content).
  function notesUpdated(f) {
    var id = f.conversation_id;
    if (shown !== id) return;
    C.api('GET', '/api/v1/conversations/' + encodeURIComponent(id) + '/notes').then(function (v) {
      if (shown !== id) return;
      notes = v;
      renderNotes();
    }, function () { /* kept as shown */ });
  }

  window.CordonPanel = { show: show, notesUpdated: notesUpdated };
})();
