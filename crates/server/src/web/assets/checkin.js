// The guest check-in page. In Stripe mode the card goes to Stripe.js and
// never to our API; in the simulator's test mode it is tokenized by the
// simulator, which stands in for Stripe.js.
(function () {
  const root = document.getElementById('checkin');
  if (!root) return;
  const holdId = root.dataset.hold;
  const secret = root.dataset.secret;
  const message = document.getElementById('message');
  const done = document.getElementById('done');
  const challenge = document.getElementById('challenge');
  const button = document.getElementById('authorize');

  const reasons = {
    generic_decline: 'Your bank declined this card. Please try another card.',
    insufficient_funds: 'Your card does not have enough available funds for this hold. Please try another card.',
    expired_card: 'This card has expired. Please use another card.',
    incorrect_cvc: 'The security code does not match this card. Check it or use another card.',
    incorrect_number: 'That card number is not valid. Check it and try again.',
    payment_intent_authentication_failure: 'Your bank could not confirm it was you. Please try again or use another card.',
  };
  function show(text) { message.textContent = text; message.hidden = false; message.focus && message.focus(); }
  function clear() { message.hidden = true; message.textContent = ''; }
  function success() {
    clear();
    done.hidden = false;
    ['facts', 'disclosure', 'headline'].forEach(function (id) { const e = document.getElementById(id); if (e) e.hidden = true; });
    ['card-form', 'stripe-form'].forEach(function (id) { const f = document.getElementById(id); if (f) f.hidden = true; });
    if (challenge) challenge.hidden = true;
  }
  async function post(path, body) {
    const r = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    let data = {};
    try { data = await r.json(); } catch (e) { /* empty body */ }
    return { ok: r.ok, status: r.status, data: data };
  }
  function explain(data) {
    const code = data && data.details && data.details.decline_code;
    return reasons[code] || (data && data.error) || 'Something went wrong. Please try again.';
  }

  if (root.dataset.mode === 'stripe') {
    const stripe = window.Stripe && window.Stripe(root.dataset.stripeKey);
    if (!stripe) { show('The card form could not load. Check your connection and reload.'); return; }
    const stripeForm = document.getElementById('stripe-form');
    const card = stripe.elements().create('card');
    card.mount('#card-element');
    function outcome(result) {
      if (result.error) {
        show(reasons[result.error.decline_code] || reasons[result.error.code] || result.error.message);
        stripeForm.hidden = false;
        return;
      }
      success();
    }
    stripeForm.addEventListener('submit', async function (ev) {
      ev.preventDefault(); clear(); button.disabled = true;
      const result = await stripe.confirmCardPayment(secret, { payment_method: { card: card } });
      button.disabled = false;
      outcome(result);
    });
    // Back on the page of a hold waiting for 3-D Secure: Stripe.js resumes
    // the bank's step for the card already given.
    const resume = document.getElementById('continue-bank');
    if (resume) {
      resume.addEventListener('click', async function () {
        clear(); resume.disabled = true;
        const result = await stripe.confirmCardPayment(secret);
        resume.hidden = true;
        outcome(result);
      });
    }
    return;
  }

  const form = document.getElementById('card-form');
  if (!form) return;
  form.addEventListener('submit', async function (ev) {
    ev.preventDefault(); clear(); button.disabled = true;
    try {
      const pm = await post('/_sim/payment_methods', { hold_id: holdId, client_secret: secret, card: { number: document.getElementById('number').value } });
      if (!pm.ok) { show(explain(pm.data)); return; }
      const r = await post('/_sim/payment_intents/' + holdId + '/confirm', { client_secret: secret, payment_method: pm.data.id });
      if (!r.ok) { show(explain(r.data)); return; }
      if (r.data.status === 'requires_capture') { success(); return; }
      if (r.data.status === 'requires_action') { challenge.hidden = false; document.getElementById('challenge-ok').focus(); return; }
      show('This hold is ' + r.data.status + '.');
    } finally { button.disabled = false; }
  });
  async function authenticate(ok) {
    const r = await post('/_sim/payment_intents/' + holdId + '/authenticate', { client_secret: secret, success: ok });
    challenge.hidden = true;
    if (r.ok && r.data.status === 'requires_capture') { success(); return; }
    show(reasons[(r.data && r.data.reason) || 'payment_intent_authentication_failure'] || explain(r.data));
    form.hidden = false;  // another card
  }
  document.getElementById('challenge-ok').addEventListener('click', function () { authenticate(true); });
  document.getElementById('challenge-fail').addEventListener('click', function () { authenticate(false); });
})();
