// Cordon card vault form: runs on the vault origin, framed by the chat widget (issue 15, docs/PAYMENTS.md).
//
// - The card is typed here and sent only to this origin (connect-src 'self'); the widget frame around us
//   is another origin and cannot read this document, and we tell it only what the chat shows anyway.
// - The capability that lets this form save a card comes in the URL fragment (never sent to a server); it
//   is read once and removed from the address.
// - The brand and Luhn check run on the IIN table the server checks against (cordon-card), served with the
//   page as data.
// - Text reaches the DOM through textContent only (Trusted Types with no policy would refuse anything else).
(function () {
  'use strict';

  var $ = function (id) { return document.getElementById(id); };
  var meta = function (n) { var m = document.querySelector('meta[name="' + n + '"]'); return m ? m.content : ''; };
  var widgetOrigin = meta('cordon-widget-origin');
  var requestId = meta('cordon-request');
  var formToken = location.hash.slice(1);
  if (formToken) history.replaceState(null, '', location.pathname);

  var form = $('card'), number = $('number'), expiry = $('expiry'), cvv = $('cvv'), name = $('name');
  var brandEl = $('brand'), hint = $('number-hint'), errorEl = $('error'), pay = $('pay'), done = $('done');

  function fail(text) {
    form.hidden = true;
    done.hidden = false;
    done.className = 'error';
    done.textContent = text;
  }

  // Only inside the widget frame: the direct parent must be the widget origin.
  var framedRight = window.parent !== window &&
    (!location.ancestorOrigins || location.ancestorOrigins[0] === widgetOrigin);
  if (!framedRight) { fail('This card form opens only inside the chat.'); return; }
  if (meta('cordon-state') !== 'open') { fail('This payment request is no longer open.'); return; }
  if (!/^vf_[A-Za-z0-9_-]{43}$/.test(formToken)) { fail('This card form has expired. Ask for a new one in the chat.'); return; }

  function toWidget(msg) {
    msg.type = 'cordon-vault';
    window.parent.postMessage(msg, widgetOrigin);
  }

  // ---- the live check ------------------------------------------------------------------------------------
  var IIN = [];
  try { IIN = JSON.parse($('iin').textContent) || []; } catch (e) { IIN = []; }

  function digitsOf(s) { return s.replace(/[\s-]/g, ''); }

  // The first row whose prefix holds the digits and whose lengths include `len` (the table's order decides).
  function brandOf(d, len) {
    for (var i = 0; i < IIN.length; i++) {
      var r = IIN[i], n = r[1];
      if (d.length < n) continue;
      var p = Number(d.slice(0, n));
      if (p >= r[2] && p <= r[3] && (r[4] & (1 << len))) return r[0];
    }
    return null;
  }
  // The brand the number is heading for: any row whose prefix the typed digits fit, at any length.
  function likelyBrand(d) {
    for (var i = 0; i < IIN.length; i++) {
      var r = IIN[i], n = r[1];
      if (d.length < n) continue;
      var p = Number(d.slice(0, n));
      if (p >= r[2] && p <= r[3]) return r[0];
    }
    return null;
  }
  function luhn(d) {
    var sum = 0, dbl = false;
    for (var i = d.length - 1; i >= 0; i--) {
      var v = d.charCodeAt(i) - 48;
      if (dbl) { v *= 2; if (v > 9) v -= 9; }
      sum += v; dbl = !dbl;
    }
    return sum % 10 === 0;
  }
  function checkNumber(final) {
    var d = digitsOf(number.value);
    var ok = /^\d{12,19}$/.test(d) && luhn(d) && brandOf(d, d.length);
    var b = ok || likelyBrand(d);
    brandEl.textContent = b || '';
    if (!d.length) { hint.textContent = ''; hint.className = 'hint'; number.removeAttribute('aria-invalid'); return false; }
    if (/\D/.test(d)) { hint.textContent = 'Digits only, please.'; hint.className = 'hint bad'; number.setAttribute('aria-invalid', 'true'); return false; }
    if (ok) { hint.textContent = ok + ' card number looks right.'; hint.className = 'hint ok'; number.removeAttribute('aria-invalid'); return true; }
    var maxLen = 19;
    if (d.length >= maxLen || final) {
      hint.textContent = 'This is not a valid card number.'; hint.className = 'hint bad'; number.setAttribute('aria-invalid', 'true');
    } else if (d.length >= 12 && !luhn(d)) {
      hint.textContent = 'Keep typing, or check the number.'; hint.className = 'hint'; number.removeAttribute('aria-invalid');
    } else {
      hint.textContent = ''; hint.className = 'hint'; number.removeAttribute('aria-invalid');
    }
    return false;
  }
  function group(d, b) {
    var parts = b === 'Amex' ? [4, 6, 5] : [4, 4, 4, 4, 3];
    var out = [], i = 0;
    for (var k = 0; k < parts.length && i < d.length; k++) { out.push(d.slice(i, i + parts[k])); i += parts[k]; }
    return out.join(' ');
  }
  number.addEventListener('input', function () {
    var d = digitsOf(number.value).replace(/\D/g, '').slice(0, 19);
    var atEnd = number.selectionStart === number.value.length;
    number.value = group(d, likelyBrand(d));
    if (atEnd) number.setSelectionRange(number.value.length, number.value.length);
    checkNumber(false);
  });
  number.addEventListener('blur', function () { checkNumber(true); });
  expiry.addEventListener('input', function () {
    var d = expiry.value.replace(/\D/g, '').slice(0, 4);
    expiry.value = d.length > 2 ? d.slice(0, 2) + '/' + d.slice(2) : d;
  });
  cvv.addEventListener('input', function () { cvv.value = cvv.value.replace(/\D/g, '').slice(0, 4); });

  function showError(text) { errorEl.textContent = text; errorEl.hidden = !text; }

  // The frame is sandboxed without allow-forms, so a form never submits (not even its submit event fires): the
  // button and Enter in a field save the card by script, to this origin only.
  pay.addEventListener('click', saveCard);
  form.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && e.target && e.target.tagName === 'INPUT') { e.preventDefault(); saveCard(); }
  });

  function saveCard() {
    if (pay.disabled) return;
    showError('');
    if (!checkNumber(true)) { number.focus(); showError('Check the card number.'); return; }
    var m = /^(\d{2})\/(\d{2})$/.exec(expiry.value);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 12) { expiry.focus(); showError('Enter the expiry as MM/YY.'); return; }
    if (!/^\d{3,4}$/.test(cvv.value)) { cvv.focus(); showError('Enter the 3 or 4 digit security code.'); return; }
    if (!name.value.trim()) { name.focus(); showError('Enter the name on the card.'); return; }
    pay.disabled = true;
    pay.textContent = 'Saving…';
    fetch('/v/cards', {
      method: 'POST',
      credentials: 'omit',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        request_id: requestId,
        form_token: formToken,
        card: {
          number: digitsOf(number.value),
          exp_month: Number(m[1]),
          exp_year: Number(m[2]),
          name: name.value.trim(),
          cvv: cvv.value
        }
      })
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; }, function () { return { ok: false, body: {} }; });
    }).then(function (res) {
      if (res.ok && res.body && res.body.token_id) {
        // Nothing of the card stays on this page.
        number.value = ''; expiry.value = ''; cvv.value = ''; name.value = '';
        formToken = '';
        form.hidden = true;
        done.hidden = false;
        done.textContent = res.body.label + ' saved.';
        toWidget({ state: 'saved', request_id: requestId, token_id: res.body.token_id, label: res.body.label });
      } else {
        var err = res.body && res.body.error;
        pay.disabled = false;
        pay.textContent = 'Save card';
        showError(err && err.message ? err.message : 'The card could not be saved. Try again.');
        if (err && err.code === 'not_found') toWidget({ state: 'expired', request_id: requestId });
      }
    }).catch(function () {
      pay.disabled = false;
      pay.textContent = 'Save card';
      showError('No connection to the vault. Try again.');
    });
  }

  toWidget({ state: 'ready', request_id: requestId });
  number.focus();
})();
