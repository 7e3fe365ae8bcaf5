// Desktop notifications in the console (issue 20): after the agent opts in (the "Notify" button, then the
// browser's own prompt), a new chat or a visitor's message while the console is in a background tab also shows a
// system notification, beside the sound, the toast and the flashing title. The text is the console's own
// ("New message from a visitor"), never what the visitor wrote: notifications show on a locked screen.
(function () {
  'use strict';
  var $ = Cordon.$;
  var KEY = 'cordon.console.notify';

  function supported() { return typeof window.Notification === 'function'; }
  function wanted() { try { return localStorage.getItem(KEY) === 'on'; } catch (e) { return false; } }
  function remember(on) { try { localStorage.setItem(KEY, on ? 'on' : 'off'); } catch (e) { /* private mode */ } }
  function on() { return supported() && wanted() && Notification.permission === 'granted'; }

  function paint() {
    var b = $('notify');
    if (!b) return;
    b.hidden = !supported();
    var denied = supported() && Notification.permission === 'denied';
    b.setAttribute('aria-pressed', String(on()));
    b.textContent = on() ? 'Notify on' : 'Notify off';
    b.title = denied ? 'Notifications are blocked for this site in the browser settings.' : '';
  }

  /** Called by console.js for each alert; shows a notification only when the tab is in the background. */
  window.CordonNotify = function (text) {
    if (!on() || (!document.hidden && document.hasFocus())) return;
    try {
      var n = new Notification('Cordon', { body: text, tag: 'cordon-console' });
      n.onclick = function () { window.focus(); n.close(); };
    } catch (e) { /* some browsers allow notifications only from a service worker */ }
  };

  document.addEventListener('DOMContentLoaded', function () {
    var b = $('notify');
    if (!b) return;
    paint();
    b.addEventListener('click', function () {
      if (on()) { remember(false); paint(); return; }
      remember(true);
      if (Notification.permission === 'granted') { paint(); return; }
      Notification.requestPermission().then(function () { paint(); }, function () { paint(); });
    });
  });
})();
