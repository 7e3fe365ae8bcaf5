// Shared helpers of the console and admin pages (console origin). Text always goes in as textContent:
// the pages' CSP enforces Trusted Types with no policy, so any HTML-parsing sink would throw.
'use strict';

var Cordon = (function () {
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'text') el.textContent = v;
        else if (k === 'class') el.className = v;
        else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
        else if (k === 'hidden' || k === 'disabled' || k === 'checked' || k === 'selected') el[k] = !!v;
        else if (k === 'value') el.value = v;
        else el.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return el;
  }

  function $(id) { return document.getElementById(id); }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

  /** Call the API. Resolves with the parsed body; rejects with { status, code, message }. */
  function api(method, path, body) {
    var init = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      if (res.status === 204) return null;
      return res.json().catch(function () { return null; }).then(function (data) {
        if (res.ok) return data;
        var err = (data && data.error) || {};
        var e = new Error(err.message || ('Request failed (' + res.status + ')'));
        e.status = res.status;
        e.code = err.code || 'http_' + res.status;
        throw e;
      });
    }, function () {
      var e = new Error('Cannot reach the server. Check your connection.');
      e.status = 0;
      e.code = 'network';
      throw e;
    });
  }

  function time(ms) {
    if (!ms) return '';
    var d = new Date(ms);
    var today = new Date();
    var sameDay = d.toDateString() === today.toDateString();
    return sameDay
      ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
      : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  function date(ms) {
    if (!ms) return '';
    return new Date(ms).toLocaleDateString([], { year: 'numeric', month: 'short', day: 'numeric' });
  }

  function shortId(id) { return id ? String(id).slice(-6) : ''; }

  /** Copy text; falls back to selecting it. Reports through `status` (a live region). */
  function copy(text, source, status) {
    function done(ok) {
      if (!status) return;
      status.textContent = ok ? 'Copied to the clipboard.' : 'Press Ctrl+C to copy the selected text.';
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () {
        if (source && source.select) source.select();
        done(false);
      });
    } else {
      if (source && source.select) source.select();
      done(false);
    }
  }

  /** Load who is signed in, or send the browser to the sign-in form. */
  function me() {
    return api('GET', '/api/v1/me');
  }

  function logout() {
    return api('POST', '/api/v1/auth/logout').catch(function () { return null; }).then(function () {
      location.assign('/console');
    });
  }

  function toast(text, isError) {
    var t = $('toast');
    if (!t) return;
    t.textContent = text;
    t.className = 'toast' + (isError ? ' error' : '');
    t.hidden = !text;
    clearTimeout(toast.timer);
    if (text) toast.timer = setTimeout(function () { t.hidden = true; }, isError ? 8000 : 4000);
  }

  /**
   * On a phone each table row shows as a small card (console.css, issue 20), each cell under its column's name:
   * every body cell of a `.table-wrap` table gets its header's text as `data-label`, now and as rows are added.
   */
  function labelTables() {
    Array.prototype.forEach.call(document.querySelectorAll('.table-wrap table'), function (table) {
      var names = Array.prototype.map.call(table.querySelectorAll('thead th'), function (th) { return th.textContent.trim(); });
      function label() {
        Array.prototype.forEach.call(table.querySelectorAll('tbody tr'), function (tr) {
          Array.prototype.forEach.call(tr.children, function (td, i) {
            if (names[i] && !td.hasAttribute('data-label') && !(td.colSpan > 1)) td.setAttribute('data-label', names[i]);
          });
        });
      }
      label();
      // Only added rows are watched; setting the labels (attributes) does not wake it again.
      new MutationObserver(label).observe(table, { childList: true, subtree: true });
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', labelTables);
  else labelTables();

  return { h: h, $: $, clear: clear, api: api, time: time, date: date, shortId: shortId, copy: copy, me: me, logout: logout, toast: toast };
})();
