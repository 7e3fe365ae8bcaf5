// Reports in the admin pages (issue 20, item 9): GET /api/v1/reports over a chosen range of days, counted in the
// browser's time zone: the figures, chats per day and the ratings' distribution as inline SVG bar charts drawn
// here (no chart library, nothing fetched at runtime), and a table per day. Numbers only; text via textContent.
(function () {
  'use strict';
  var C = Cordon, h = C.h, $ = C.$;
  var SVG = 'http://www.w3.org/2000/svg';

  function svg(tag, attrs, text) {
    var el = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function status(text, isError) {
    var s = $('reports-status');
    s.textContent = text;
    s.className = 'status-text' + (isError ? ' error' : '');
  }

  /** A duration for people: 42 s, 3 min 20 s, 1 h 5 min; a dash when there is none. */
  function duration(ms) {
    if (ms === null || ms === undefined) return '—';
    var s = Math.round(ms / 1000);
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min' + (s % 60 ? ' ' + (s % 60) + ' s' : '');
    return Math.floor(m / 60) + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
  }

  function average(v) { return v === null || v === undefined ? '—' : v.toFixed(2) + ' / 5'; }

  function isoDay(d) {
    var z = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
    return z.toISOString().slice(0, 10);
  }

  // Vertical bars, one per item, labelled below; `label(i)` is shown for a few of them when there are many.
  function bars(box, titleId, titleText, items, value, label, tip, color) {
    C.clear(box);
    var max = 1;
    items.forEach(function (it) { max = Math.max(max, value(it)); });
    var W = 720, H = 190, left = 34, bottom = 22, top = 10;
    var plotW = W - left - 8, plotH = H - bottom - top;
    var slot = plotW / Math.max(items.length, 1);
    var barW = Math.max(2, Math.min(slot * 0.7, 48));
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': titleId });
    root.appendChild(svg('title', { id: titleId }, titleText));
    root.appendChild(svg('line', { class: 'axis', x1: left, y1: top + plotH, x2: W - 8, y2: top + plotH }));
    [0, max].forEach(function (v) {
      root.appendChild(svg('text', { x: left - 6, y: top + plotH - (v / max) * plotH + 4, 'text-anchor': 'end' }, String(v)));
    });
    var every = Math.ceil(items.length / 8);
    items.forEach(function (it, i) {
      var n = value(it);
      var x = left + i * slot + (slot - barW) / 2;
      if (n > 0) {
        var hgt = Math.max((n / max) * plotH, 1);
        var rect = svg('rect', { x: x.toFixed(1), y: (top + plotH - hgt).toFixed(1), width: barW.toFixed(1), height: hgt.toFixed(1), fill: color, rx: 2 });
        rect.appendChild(svg('title', null, tip(it)));
        root.appendChild(rect);
      }
      if (items.length <= 10 || i % every === 0 || i === items.length - 1) {
        root.appendChild(svg('text', { x: (x + barW / 2).toFixed(1), y: H - 6, 'text-anchor': 'middle' }, label(it, i)));
      }
    });
    box.appendChild(root);
  }

  function render(r) {
    $('reports-body').hidden = false;
    var dl = $('r-summary');
    C.clear(dl);
    [
      ['Chats', String(r.chats) + (r.closed !== r.chats ? ' (' + r.closed + ' ended)' : '')],
      ['First response', duration(r.first_response.median_ms) + ' median · ' + duration(r.first_response.p90_ms) + ' p90'],
      ['Handle time', duration(r.handle_time.median_ms) + ' median · ' + duration(r.handle_time.p90_ms) + ' p90'],
      ['Rating', r.rating.count ? average(r.rating.average) + ' from ' + r.rating.count + ' rating' + (r.rating.count === 1 ? '' : 's') : 'No ratings yet']
    ].forEach(function (row) {
      dl.appendChild(h('dt', { text: row[0] }));
      dl.appendChild(h('dd', { text: row[1] }));
    });
    if (r.truncated) status('The range holds more chats than one report reads; the figures are over the first 50,000.', true);
    bars($('r-chart'), 'r-chart-title', 'Chats per day, ' + r.from + ' to ' + r.to, r.days,
      function (d) { return d.chats; },
      function (d) { return d.date.slice(5); },
      function (d) { return d.date + ': ' + d.chats + ' chat' + (d.chats === 1 ? '' : 's'); }, '#1d4ed8');
    var scores = r.rating.distribution.map(function (n, i) { return { score: i + 1, n: n }; });
    bars($('r-ratings'), 'r-ratings-title', 'Ratings by score, 1 to 5 stars', scores,
      function (s) { return s.n; },
      function (s) { return s.score + ' ★'; },
      function (s) { return s.n + ' rated ' + s.score + ' of 5'; }, '#f59e0b');
    var tb = $('r-days');
    C.clear(tb);
    r.days.forEach(function (d) {
      tb.appendChild(h('tr', null,
        h('td', { class: 'nowrap', text: d.date }),
        h('td', { class: 'num', text: String(d.chats) }),
        h('td', { class: 'num', text: duration(d.first_response_median_ms) }),
        h('td', { class: 'num', text: duration(d.handle_time_median_ms) }),
        h('td', { class: 'num', text: String(d.ratings) }),
        h('td', { class: 'num', text: average(d.rating_average) })));
    });
  }

  function load() {
    var q = '?from=' + encodeURIComponent($('r-from').value) + '&to=' + encodeURIComponent($('r-to').value) +
      '&utc_offset_minutes=' + String(-new Date().getTimezoneOffset());
    status('Loading…');
    C.api('GET', '/api/v1/reports' + q).then(function (r) { status(''); render(r); }, function (e) {
      if (e.status !== 401 && e.status !== 403) status(e.message, true);
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var form = $('reports-form');
    if (!form) return;
    var today = new Date();
    $('r-to').value = isoDay(today);
    $('r-from').value = isoDay(new Date(today.getTime() - 6 * 86400000));
    form.addEventListener('submit', function (ev) { ev.preventDefault(); load(); });
    load();
  });
})();
