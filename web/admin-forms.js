// Offline and pre-chat forms in the admin pages (issue 20, item 2): two switches the tenant's widget reads from
// the visitor's welcome (a few seconds later): ask name, email and a question before the first message; ask an
// email while no agent is online. A third switch emails the chat's transcript to the visitor's address when the
// chat ends (sent by the server, if its operator configured mail).
(function () {
  'use strict';
  var C = Cordon, $ = C.$;

  function status(text, isError) {
    var s = $('forms-status');
    s.textContent = text;
    s.className = 'status-text' + (isError ? ' error' : '');
  }

  document.addEventListener('DOMContentLoaded', function () {
    var form = $('forms-form');
    if (!form) return;
    C.api('GET', '/api/v1/tenant/chat-forms').then(function (f) {
      $('f-prechat').checked = !!f.prechat;
      $('f-offline').checked = !!f.offline;
      $('f-transcript').checked = !!f.transcript;
    }, function (e) { if (e.status !== 401 && e.status !== 403) status(e.message, true); });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var body = {
        prechat: $('f-prechat').checked,
        offline: $('f-offline').checked,
        transcript: $('f-transcript').checked
      };
      status('Saving…', false);
      C.api('PUT', '/api/v1/tenant/chat-forms', body).then(function () {
        status('Saved. The widget shows it to visitors who open the chat from now on.', false);
      }, function (e) { status(e.message, true); });
    });
  });
})();
