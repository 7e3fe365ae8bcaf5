// The demo store's own script: it checks the card form and says that the demo takes no payment.
(function () {
  'use strict';
  var form = document.getElementById('pay-form');
  var out = document.getElementById('pay-result');
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var digits = document.getElementById('cc-number').value.replace(/\D/g, '');
    out.textContent = digits.length >= 12
      ? 'Demo only: no payment was made, and the card number never left this page.'
      : 'Please enter a card number (try 4242 4242 4242 4242).';
  });
})();
