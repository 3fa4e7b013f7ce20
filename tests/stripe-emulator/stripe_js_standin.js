// SPDX-License-Identifier: GPL-3.0-or-later
//
// A stand-in for Stripe.js v3, served by the emulator at /js.stripe.com/v3/
// so that the check-in page's Stripe mode can be driven in a browser without
// Stripe's own script. Test tooling only. It implements just what the page
// uses, with Stripe.js's shapes:
//   Stripe(publishableKey).elements().create('card').mount(selector)
//   stripe.confirmCardPayment(clientSecret, {payment_method: {card}})
//     -> {paymentIntent} or {error: {type, code, decline_code, message}}
//   stripe.confirmCardPayment(clientSecret)   (resumes 3-D Secure)
// Like Stripe.js it confirms from the browser with the publishable key and
// the client secret (never the secret key), and it runs the 3-D Secure
// challenge itself when the PaymentIntent needs one.
(function () {
  'use strict';
  const base = new URL(document.currentScript.src).origin;

  function field(name, label, autocomplete, size) {
    const input = document.createElement('input');
    input.name = name;
    input.setAttribute('aria-label', label);
    input.setAttribute('autocomplete', autocomplete);
    input.setAttribute('inputmode', 'numeric');
    input.size = size;
    return input;
  }

  class CardElement {
    constructor() {
      this.number = field('cardnumber', 'Card number', 'cc-number', 19);
      this.expiry = field('exp-date', 'Expiration date MM / YY', 'cc-exp', 7);
      this.expiry.value = '12 / 34';
      this.cvc = field('cvc', 'CVC', 'cc-csc', 4);
      this.cvc.value = '123';
    }
    mount(target) {
      const el = typeof target === 'string' ? document.querySelector(target) : target;
      if (!el) throw new Error('mount(): no such element');
      el.append(this.number, this.expiry, this.cvc);
    }
    card() {
      const [month, year] = this.expiry.value.split('/').map(function (s) { return s.trim(); });
      return { number: this.number.value.replace(/\s+/g, ''), exp_month: month || '', exp_year: year ? '20' + year.slice(-2) : '', cvc: this.cvc.value };
    }
  }

  async function post(path, params) {
    const body = new URLSearchParams(params);
    const r = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: body });
    let data = {};
    try { data = await r.json(); } catch (e) { data = { error: { type: 'api_error', message: 'The payment service answered ' + r.status + '.' } }; }
    return { ok: r.ok, data: data };
  }

  // The bank's 3-D Secure page, which Stripe.js shows in a frame.
  function challenge() {
    return new Promise(function (resolve) {
      const box = document.createElement('div');
      box.setAttribute('role', 'dialog');
      box.setAttribute('aria-label', '3D Secure');
      const text = document.createElement('p');
      text.textContent = 'Your bank asks you to confirm this payment (3D Secure test page).';
      const ok = document.createElement('button');
      ok.type = 'button';
      ok.textContent = 'Complete authentication';
      const fail = document.createElement('button');
      fail.type = 'button';
      fail.textContent = 'Fail authentication';
      box.append(text, ok, fail);
      document.body.append(box);
      function done(result) { box.remove(); resolve(result); }
      ok.addEventListener('click', function () { done(true); });
      fail.addEventListener('click', function () { done(false); });
      ok.focus();
    });
  }

  window.Stripe = function (key) {
    if (!String(key).startsWith('pk_')) throw new Error('Stripe(): a publishable key is required');
    return {
      elements: function () {
        return { create: function (type) { if (type !== 'card') throw new Error('only card'); return new CardElement(); } };
      },
      confirmCardPayment: async function (clientSecret, data) {
        const match = /^(pi_\w+?)_secret_/.exec(clientSecret);
        if (!match) return { error: { type: 'invalid_request_error', message: 'Invalid client secret.' } };
        const pi = match[1];
        let intent;
        if (!data || !data.payment_method) {
          // Called with the client secret alone: resume the next action of a
          // PaymentIntent already confirmed with a card (3-D Secure).
          intent = { status: 'requires_action' };
        } else {
          const card = data.payment_method.card.card();
          const confirmed = await post('/v1/payment_intents/' + pi + '/confirm', {
          key: key,
          client_secret: clientSecret,
          'payment_method_data[type]': 'card',
          'payment_method_data[card][number]': card.number,
          'payment_method_data[card][exp_month]': card.exp_month,
          'payment_method_data[card][exp_year]': card.exp_year,
          'payment_method_data[card][cvc]': card.cvc,
          });
          if (!confirmed.ok) return { error: confirmed.data.error };
          intent = confirmed.data;
        }
        if (intent.status === 'requires_action') {
          const success = await challenge();
          const done = await post('/v1/payment_intents/' + pi + '/_authenticate', { key: key, client_secret: clientSecret, success: String(success) });
          if (!done.ok) return { error: done.data.error };
          intent = done.data;
          if (intent.status !== 'requires_capture') {
            return { error: { type: 'card_error', code: 'payment_intent_authentication_failure', message: 'We are unable to authenticate your payment method. Please choose a different payment method and try again.' } };
          }
        }
        return { paymentIntent: intent };
      },
    };
  };
})();
