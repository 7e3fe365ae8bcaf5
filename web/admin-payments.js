// Payments in the admin pages (issue 15, docs/PAYMENTS.md): where forwarded cards go (the tenant's processor),
// whether payments keys may detokenize, and the tenant's card tokens (brand and last four only). The section is
// built here and placed after the webhooks, so admin.html carries only this script. Text goes in as textContent.
(function () {
  'use strict';
  var C = Cordon, h = C.h, $ = C.$;

  function status(text, isError) {
    var s = $('pay-status');
    s.textContent = text;
    s.className = 'status-text' + (isError ? ' error' : '');
  }

  function section() {
    return h('section', { class: 'card', id: 'payments', 'aria-labelledby': 'pay-h' },
      h('h2', { id: 'pay-h', text: 'Payments' }),
      h('p', { class: 'muted', text: 'Agents ask for payments in the chat; visitors type their card into the card ' +
        'vault\u2019s own form, which neither the chat, the agents nor this page can read. Cards are kept sealed in ' +
        'the vault as tokens. A key with the payments scope forwards a token to your processor (the card goes ' +
        'straight there) or, if you allow it below, detokenizes.' }),
      h('p', { id: 'pay-vault', class: 'muted' }),
      h('form', { id: 'pay-form', class: 'stack' },
        h('label', { for: 'pay-url', text: 'Processor endpoint (receives forwarded cards, signed)' }),
        h('input', { id: 'pay-url', type: 'url', class: 'mono', placeholder: 'https://payments.example.com/charge',
          maxlength: '2000' }),
        h('label', { class: 'check' }, h('input', { id: 'pay-detok', type: 'checkbox' }),
          ' Allow payments keys to detokenize (they then receive full card numbers)'),
        h('div', { class: 'inline' }, h('button', { type: 'submit', class: 'primary', text: 'Save payment settings' }))),
      h('div', { id: 'pay-box', class: 'secret', hidden: true },
        h('p', { text: 'The processor\u2019s signing secret: your processor checks each forward with it. Copy it now: ' +
          'it will not be shown again.' }),
        h('div', { class: 'row' },
          h('label', { for: 'pay-secret', class: 'sr-only', text: 'Processor signing secret' }),
          h('input', { id: 'pay-secret', class: 'mono', readonly: true }))),
      h('p', { id: 'pay-status', class: 'status-text', role: 'status' }),
      h('h3', { class: 'subhead', text: 'Card tokens' }),
      h('div', { class: 'table-wrap' },
        h('table', null,
          h('thead', null, h('tr', null,
            h('th', { scope: 'col', text: 'Card' }), h('th', { scope: 'col', text: 'Token' }),
            h('th', { scope: 'col', text: 'Saved' }), h('th', { scope: 'col', class: 'num', text: 'Uses' }))),
          h('tbody', { id: 'pay-tokens' }))));
  }

  function render(s) {
    $('pay-url').value = s.processor_url || '';
    $('pay-detok').checked = !!s.detokenize_enabled;
    $('pay-vault').textContent = s.vault_enabled ? 'The card vault is on for this server.'
      : 'This server runs no card vault: agents cannot ask for payments yet (the operator sets --vault-url).';
    if (s.processor_secret) {
      $('pay-secret').value = s.processor_secret;
      $('pay-box').hidden = false;
    }
  }

  // Each cell under its column's name on a phone (common.js labels the tables that exist when the page loads;
  // this one is made after).
  function cell(label, text, cls) { return h('td', { class: cls || null, text: text, 'data-label': label }); }

  function loadTokens() {
    C.api('GET', '/api/v1/payments/tokens').then(function (list) {
      var tb = $('pay-tokens');
      C.clear(tb);
      if (!list.length) tb.appendChild(h('tr', null, h('td', { colspan: '4', class: 'muted', text: 'No cards saved yet.' })));
      list.forEach(function (t) {
        tb.appendChild(h('tr', null,
          cell('Card', t.brand + ' \u2022\u2022\u2022\u2022 ' + t.last4 + ' (' + ('0' + t.exp_month).slice(-2) + '/' + String(t.exp_year).slice(-2) + ')', 'nowrap'),
          cell('Token', t.id, 'mono'),
          cell('Saved', C.date(t.created_at), 'nowrap'),
          cell('Uses', String(t.uses), 'num')));
      });
    }, function () { /* not an admin: admin.js says so */ });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var after = $('hooks-h') && $('hooks-h').closest('section');
    if (!after) return;
    after.parentNode.insertBefore(section(), after.nextSibling);
    $('pay-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var url = $('pay-url').value.trim();
      C.api('PUT', '/api/v1/payments/settings', { processor_url: url || null, detokenize_enabled: $('pay-detok').checked })
        .then(function (s) { render(s); status('Payment settings saved.', false); }, function (e) { status(e.message, true); });
    });
    C.api('GET', '/api/v1/payments/settings').then(function (s) { render(s); loadTokens(); }, function (e) {
      if (e.status !== 401 && e.status !== 403) status(e.message, true);
    });
  });
})();
