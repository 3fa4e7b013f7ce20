# SPDX-License-Identifier: GPL-3.0-or-later
#
# ChittyCharge's patch layer over localstripe 1.15.10 (GPL-3.0-or-later),
# test tooling only: it is never linked into the service.
#
# It imports localstripe, monkey-patches the deviations from real Stripe that
# a manual-capture client notices, keeps all state in memory, binds
# 127.0.0.1 only, and serves. The fixes (numbered as in
# shared/reference/stripe-emulator.md section 6):
#   1. amount_capturable / amount_received on PaymentIntents
#   2. capture from the wrong state -> 400 payment_intent_unexpected_state
#   3. over-capture -> 400 amount_too_large
#   4. declines as 402 card_error with decline_code at confirm, for the
#      standard test cards; confirm accepts payment_method (retry after decline)
#   5. Idempotency-Key: replay, idempotency_error on other parameters,
#      409 while in flight; Request-Id header
#   6. cancel accepts cancellation_reason; canceled_at
#   7. webhook events for the manual-capture flow, a short delivery delay,
#      a current api_version, t= set to the send time
#   8. latest_charge is an id unless expanded; no deprecated `charges`;
#      description and receipt_email kept
#   9. 404 -> resource_missing
#  10. pm_card_threeDSecure2Required / pm_card_authenticationRequired
#  11. refunds of captured money: a partial capture's rest is not a refund,
#      a refund may not pass what is left of the capture, `reason`, and
#      charge.refunded / refund.created events
#  12. disputes: opened by the bank's stand-in (POST /_config/disputes),
#      read and answered with evidence (GET/POST /v1/disputes/{id}),
#      decided (POST /_config/disputes/{id}/close), with their events
# and, to be as strict as Stripe where the service depends on it:
#  - a server-side confirmation must say how redirects are handled;
#  - increment_authorization only on intents that requested it;
#  - an emulator clock (POST /_config/clock advance_secs=N): idempotency
#    keys expire after 24 h of it, and an authorization it carries past its
#    7 days lapses as on Stripe (PaymentIntent canceled with
#    cancellation_reason=expired, then charge.expired);
#  - rate-limit answers on request (POST /_config/rate_limit count=N
#    [status=400 for the legacy form]), never stored under an idempotency key;
#  - a stand-in for Stripe.js at /js.stripe.com/v3/ (stripe_js_standin.js)
#    that confirms from the browser with the publishable key and the
#    client secret, as Stripe.js does.
#
# Usage: python localstripe_patched.py --port 8420 [--webhook-delay 0.05]

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import time
import uuid

from aiohttp import web

import localstripe.resources as r
import localstripe.webhooks as wh
from localstripe.errors import UserError
from localstripe.resources import Charge, Event, PaymentIntent, PaymentMethod, StripeObject

API_VERSION = '2024-06-20'
WEBHOOK_DELAY = 0.05
HOLD_SECONDS = 7 * 86400
IDEMPOTENCY_TTL = 86400

# No pickle file: state lives in memory only.
r.Store.dump_to_disk = lambda self: None

# ---- the emulator clock -------------------------------------------------------
# Stripe's clock cannot be moved, but a test of a 20-night stay or of a lapse
# must move the service's clock and the processor's together. Every timestamp
# localstripe takes goes through this offset.
_clock = {'offset': 0}


def now():
    return time.time() + _clock['offset']


class _ClockShim:
    # localstripe calls `time.time()` on the module it imported.
    def __getattr__(self, name):
        return getattr(time, name)

    @staticmethod
    def time():
        return now()


r.time = _ClockShim()

DECLINES = {
    '4000000000000002': ('generic_decline', 'Your card was declined.'),
    '4000000000009995': ('insufficient_funds', 'Your card has insufficient funds.'),
    '4000000000000069': ('expired_card', 'Your card has expired.'),
    '4000000000000127': ('incorrect_cvc', "Your card's security code is incorrect."),
    '4000000000000119': ('processing_error', 'An error occurred while processing your card.'),
    '4000000000000341': ('generic_decline', 'Your card was declined.'),
}

NAMED_CARDS = {
    'pm_card_visa': '4242424242424242',
    'pm_card_mastercard': '5555555555554444',
    'pm_card_unionpay': '6200000000000005',
    'pm_card_chargeDeclined': '4000000000000002',
    'pm_card_visa_chargeDeclined': '4000000000000002',
    'pm_card_chargeDeclinedInsufficientFunds': '4000000000009995',
    'pm_card_chargeDeclinedExpiredCard': '4000000000000069',
    'pm_card_chargeCustomerFail': '4000000000000341',
    'pm_card_threeDSecure2Required': '4000002500003155',
    'pm_card_authenticationRequired': '4000002500003155',
}


def stripe_error(status, message, **fields):
    e = UserError(status, message, dict(fields))
    if 'type' in fields:
        e.body['error']['type'] = fields['type']
    return e


def schedule(event_type, obj):
    wh.schedule_webhook(Event(event_type, obj))


# ---- 9. resource_missing -------------------------------------------------

_orig_retrieve = StripeObject._api_retrieve.__func__


def _retrieve(cls, id):
    try:
        return _orig_retrieve(cls, id)
    except UserError as e:
        if e.code == 404:
            raise stripe_error(404, "No such %s: '%s'" % (cls.object, id), code='resource_missing', param='id')
        raise


StripeObject._api_retrieve = classmethod(_retrieve)


# ---- 10. named test PaymentMethods --------------------------------------

def _canonical(cls, id):
    number = NAMED_CARDS.get(id)
    if number is None:
        return None
    return PaymentMethod(type='card', card=dict(number=number, exp_month='12', exp_year='2030', cvc='123'))


PaymentMethod._try_get_canonical_test_article = classmethod(_canonical)

_orig_pm_retrieve = PaymentMethod._api_retrieve.__func__


def _pm_retrieve(cls, id):
    try:
        return _orig_pm_retrieve(cls, id)
    except UserError as e:
        if e.code == 404:
            raise stripe_error(404, "No such PaymentMethod: '%s'" % id, code='resource_missing', param='payment_method')
        raise


PaymentMethod._api_retrieve = classmethod(_pm_retrieve)


# ---- 4. declines at confirm for the standard test cards -----------------

def _charging_is_declined(self):
    return self.type == 'card' and self._card_number in DECLINES


PaymentMethod._charging_is_declined = _charging_is_declined


def _set_auth_failure(self):
    self.status = 'failed'
    self.failure_code = 'card_declined'
    pm = PaymentMethod._api_retrieve(self.payment_method)
    code, message = DECLINES.get(getattr(pm, '_card_number', ''), ('generic_decline', 'Your card was declined.'))
    self._decline_code = code
    self.failure_message = message


Charge._set_auth_failure = _set_auth_failure


def _raise_failure(self):
    raise stripe_error(402, self.failure_message, type='card_error', code='card_declined',
                       decline_code=getattr(self, '_decline_code', 'generic_decline'), charge=self.id,
                       payment_intent={'id': self.payment_intent, 'object': 'payment_intent'})


Charge._raise_failure = _raise_failure


# ---- 8 and 1. the PaymentIntent's shape -----------------------------------

_orig_charge_export = Charge._export


def _charge_export_expired(self, expand=None):
    out = _orig_charge_export(self, expand=expand)
    if getattr(self, '_expired', False):
        # Stripe's expired authorization: nothing captured, all refunded.
        out['refunded'] = True
        out['amount_refunded'] = self.amount
    return out


Charge._export = _charge_export_expired


def _charge_export(ch):
    out = Charge._export(ch)
    out['amount_captured'] = _captured_amount(ch)
    pi = PaymentIntent._api_retrieve(ch.payment_intent) if getattr(ch, 'payment_intent', None) else None
    incremental = 'available' if _can_increment(pi) else 'unavailable'
    out['payment_method_details'] = {
        'type': 'card',
        'card': {'capture_before': ch.created + HOLD_SECONDS if not ch.captured else None, 'brand': 'visa',
                 'incremental_authorization': {'status': incremental}},
    }
    return out


def _card_allows_increments(pi):
    # UnionPay is not among the networks that allow incremental authorization.
    try:
        pm = PaymentMethod._api_retrieve(pi.payment_method)
    except UserError:
        return False
    return not getattr(pm, '_card_number', '').startswith('62')


def _can_increment(pi):
    return pi is not None and getattr(pi, '_incremental', False) and _card_allows_increments(pi)


def _pi_export(self, expand=None):
    expand = list(expand or [])
    want_charge = any(e == 'latest_charge' or e.startswith('latest_charge.') for e in expand)
    others = [e for e in expand if not e.startswith('latest_charge')]
    obj = StripeObject._export(self, expand=others)
    obj.pop('charges', None)
    ch = self.latest_charge
    status = self.status
    if ch is None:
        obj['latest_charge'] = None
    elif want_charge:
        obj['latest_charge'] = _charge_export(ch)
    else:
        obj['latest_charge'] = ch.id
    obj['amount_capturable'] = ch.amount if (ch is not None and status == 'requires_capture') else 0
    obj['amount_received'] = _captured_amount(ch) if (ch is not None and status == 'succeeded') else 0
    obj['cancellation_reason'] = getattr(self, '_cancellation_reason', None)
    obj['canceled_at'] = getattr(self, '_canceled_at', None)
    err = obj.get('last_payment_error')
    if err and ch is not None and getattr(ch, '_decline_code', None):
        err['decline_code'] = ch._decline_code
        err['type'] = 'card_error'
    return obj


PaymentIntent._export = _pi_export

_orig_pi_init = PaymentIntent.__init__


def _handles_redirects(payment_method_types, automatic_payment_methods):
    # Since API version 2023-08-16 a PaymentIntent accepts the Dashboard's
    # payment methods unless told otherwise, and some of those redirect.
    apm = automatic_payment_methods or {}
    return bool(payment_method_types) or apm.get('allow_redirects') == 'never'


REDIRECT_MESSAGE = (
    'This PaymentIntent is configured to accept payment methods enabled in your Dashboard. '
    'Because some of these payment methods might redirect your customer off of your page, you must '
    'provide a `return_url`. If you don\'t want to accept redirect-based payment methods, set '
    '`automatic_payment_methods[enabled]` to `true` and `automatic_payment_methods[allow_redirects]` '
    'to `never` when creating Setup Intents and Payment Intents.')


def _require_redirect_handling(handled, return_url, off_session):
    # Stripe refuses a server-side confirmation that says nothing about
    # redirects; the project's client must never send one.
    if not handled and not return_url and not off_session:
        raise stripe_error(400, REDIRECT_MESSAGE, param='return_url')


def _pi_init(self, description=None, receipt_email=None, statement_descriptor=None,
             setup_future_usage=None, return_url=None, automatic_payment_methods=None, **kwargs):
    _orig_pi_init(self, **kwargs)
    self.description = description
    self.receipt_email = receipt_email
    self.setup_future_usage = setup_future_usage
    self._handles_redirects = _handles_redirects(kwargs.get('payment_method_types'), automatic_payment_methods)
    self._return_url = return_url
    card_options = (kwargs.get('payment_method_options') or {}).get('card') or {}
    self._incremental = card_options.get('request_incremental_authorization') in ('if_available', 'required')


PaymentIntent.__init__ = _pi_init


# ---- 7. events on authorization -------------------------------------------

_orig_confirm = PaymentIntent._confirm


def _confirm(self, on_failure_now):
    try:
        _orig_confirm(self, on_failure_now)
    finally:
        if self.status == 'requires_capture':
            schedule('payment_intent.amount_capturable_updated', self)
        elif self.status == 'requires_action':
            schedule('payment_intent.requires_action', self)


PaymentIntent._confirm = _confirm


_orig_create = PaymentIntent._api_create.__func__


def _api_create(cls, confirm=None, off_session=None, **data):
    if str(confirm).lower() == 'true':
        handled = _handles_redirects(data.get('payment_method_types'), data.get('automatic_payment_methods'))
        _require_redirect_handling(handled, data.get('return_url'), str(off_session).lower() == 'true')
    return _orig_create(cls, confirm=confirm, off_session=off_session, **data)


PaymentIntent._api_create = classmethod(_api_create)


def _api_confirm(cls, id, payment_method=None, **kwargs):
    return_url = kwargs.pop('return_url', None)
    off_session = str(kwargs.pop('off_session', None)).lower() == 'true'
    if kwargs:
        raise UserError(400, 'Unexpected ' + ', '.join(kwargs.keys()))
    obj = cls._api_retrieve(id)
    _require_redirect_handling(getattr(obj, '_handles_redirects', False), return_url or obj._return_url, off_session)
    if obj.status not in ('requires_payment_method', 'requires_confirmation'):
        raise stripe_error(400, 'This PaymentIntent could not be confirmed because it has a status of %s.' % obj.status,
                           code='payment_intent_unexpected_state')
    if payment_method is not None:
        PaymentMethod._api_retrieve(payment_method)  # 404 resource_missing if unknown
        obj.payment_method = payment_method
        obj.latest_charge = None  # a retry after a decline starts a new charge
        obj._authentication_failed = False
    if not obj.payment_method:
        raise stripe_error(400, 'You cannot confirm this PaymentIntent because it is missing a payment method.',
                           code='payment_intent_unexpected_state')
    obj._confirm(on_failure_now=obj._report_failure)
    return obj


PaymentIntent._api_confirm = classmethod(_api_confirm)

_orig_authenticate = PaymentIntent._api_authenticate.__func__


def _api_authenticate(cls, id, **kwargs):
    obj = _orig_authenticate(cls, id, **kwargs)
    if obj.status == 'requires_capture':
        schedule('payment_intent.amount_capturable_updated', obj)
    elif obj.status == 'requires_payment_method':
        schedule('payment_intent.payment_failed', obj)
    return obj


PaymentIntent._api_authenticate = classmethod(_api_authenticate)


# ---- 2 and 3. capture -----------------------------------------------------

def _api_capture(cls, id, amount_to_capture=None, final_capture=None, **kwargs):
    if kwargs:
        raise UserError(400, 'Unexpected ' + ', '.join(kwargs.keys()))
    obj = cls._api_retrieve(id)
    if obj.status != 'requires_capture':
        raise stripe_error(400, 'This PaymentIntent could not be captured because it has a status of %s.' % obj.status,
                           code='payment_intent_unexpected_state')
    capturable = obj.latest_charge.amount
    amount = r.try_convert_to_int(amount_to_capture) if amount_to_capture is not None else capturable
    if type(amount) is not int or amount <= 0:
        raise stripe_error(400, 'Invalid positive integer', code='parameter_invalid_integer', param='amount_to_capture')
    if amount > capturable:
        raise stripe_error(400, 'The amount to capture (%d) is greater than the amount capturable (%d).' % (amount, capturable),
                           code='amount_too_large', param='amount_to_capture')

    def on_success():
        obj._on_success()
        schedule('charge.captured', obj.latest_charge)

    obj.latest_charge._capture(amount=amount, on_success=on_success)
    return obj


PaymentIntent._api_capture = classmethod(_api_capture)


# ---- 6. cancel ------------------------------------------------------------

REASONS = ('duplicate', 'fraudulent', 'requested_by_customer', 'abandoned')


def _api_cancel(cls, id, cancellation_reason=None, **kwargs):
    if kwargs:
        raise UserError(400, 'Unexpected ' + ', '.join(kwargs.keys()))
    if cancellation_reason is not None and cancellation_reason not in REASONS:
        raise stripe_error(400, 'Invalid cancellation_reason', code='parameter_invalid_string', param='cancellation_reason')
    obj = cls._api_retrieve(id)
    if obj.status not in ('requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action'):
        raise stripe_error(400, 'You cannot cancel this PaymentIntent because it has a status of %s.' % obj.status,
                           code='payment_intent_unexpected_state')
    obj._canceled = True
    obj.next_action = None
    obj._cancellation_reason = cancellation_reason
    obj._canceled_at = int(now())
    schedule('payment_intent.canceled', obj)
    return obj


PaymentIntent._api_cancel = classmethod(_api_cancel)


def _api_increment(cls, id, amount=None, **kwargs):
    obj = cls._api_retrieve(id)
    if obj.status != 'requires_capture':
        raise stripe_error(400, 'This PaymentIntent could not be incremented because it has a status of %s.' % obj.status,
                           code='payment_intent_unexpected_state')
    if not _can_increment(obj):
        # As Stripe: only an authorization confirmed with
        # request_incremental_authorization, on a card that allows it.
        raise stripe_error(400, 'This PaymentIntent is not eligible for incremental authorization: it was not '
                           'confirmed with payment_method_options[card][request_incremental_authorization], '
                           'or its card network does not support it.',
                           code='incremental_authorization_unavailable')
    amount = r.try_convert_to_int(amount)
    if type(amount) is not int or amount <= obj.amount:
        raise stripe_error(400, 'The new amount must be greater than the current amount.', param='amount')
    obj.amount = amount
    obj.latest_charge.amount = amount
    schedule('payment_intent.amount_capturable_updated', obj)
    return obj


# The stock routes captured the original functions when localstripe.server
# was imported; point them at the patched ones before that import happens.
_ROUTES = {
    '/v1/payment_intents/{id}/confirm': PaymentIntent._api_confirm,
    '/v1/payment_intents/{id}/cancel': PaymentIntent._api_cancel,
    '/v1/payment_intents/{id}/capture': PaymentIntent._api_capture,
    '/v1/payment_intents/{id}/_authenticate': PaymentIntent._api_authenticate,
}
r.extra_apis[:] = [(m, u, _ROUTES.get(u, f)) for (m, u, f) in r.extra_apis]
# A classmethod like the others: the router calls it with keyword arguments
# only (a plain function lost its `cls` and answered 500).
PaymentIntent._api_increment_authorization = classmethod(_api_increment)
r.extra_apis.insert(0, ('POST', '/v1/payment_intents/{id}/increment_authorization',
                        PaymentIntent._api_increment_authorization))


# ---- 11. refunds of captured money ------------------------------------------
# Stock localstripe records the uncaptured rest of a partial capture as a
# refund, so a charge captured in part looks refunded, and its refunds are
# checked against the authorized amount. Stripe keeps them apart: the
# charge's amount_captured is what was captured, amount_refunded only what
# was refunded of it, and a refund may not pass what is left of the capture.

REFUND_REASONS = ('duplicate', 'fraudulent', 'requested_by_customer')


def _captured_amount(ch):
    if not ch.captured:
        return 0
    return getattr(ch, '_amount_captured', ch.amount)


def _charge_capture(self, amount, on_success=None):
    if amount is None:
        amount = self.amount
    amount = r.try_convert_to_int(amount)
    if type(amount) is not int or not 0 <= amount <= self.amount or self.captured or self.status != 'succeeded':
        raise UserError(400, 'Bad request')

    def on_success_capture():
        self.captured = True
        self._amount_captured = amount
        if on_success:
            on_success()

    self._trigger_payment(on_success=on_success_capture)


Charge._capture = _charge_capture
Charge.refunded = property(lambda self: self.captured and _captured_amount(self) <= self.amount_refunded)

_orig_refund_init = r.Refund.__init__


def _refund_init(self, charge=None, payment_intent=None, amount=None, metadata=None, reason=None, **kwargs):
    if reason is not None and reason not in REFUND_REASONS:
        raise stripe_error(400, 'Invalid reason: must be one of %s' % ', '.join(REFUND_REASONS),
                           code='parameter_invalid_string', param='reason')
    if payment_intent is not None:
        ch = PaymentIntent._api_retrieve(payment_intent).latest_charge
    elif charge is not None:
        ch = Charge._api_retrieve(charge)
    else:
        raise stripe_error(400, 'Expected charge or payment_intent', code='parameter_missing')
    if ch is None or not ch.captured:
        raise stripe_error(400, 'This charge has not been captured: cancel the PaymentIntent to release it.',
                           code='charge_not_refundable')
    if any(getattr(o, 'object', None) == 'dispute' and o.charge == ch.id and o.status != 'won'
           for o in list(r.store.values())):
        raise stripe_error(400, 'Charge %s has been disputed.' % ch.id, code='charge_disputed')
    left = _captured_amount(ch) - ch.amount_refunded
    if left <= 0:
        raise stripe_error(400, 'Charge %s has already been refunded.' % ch.id, code='charge_already_refunded')
    n = r.try_convert_to_int(amount) if amount is not None else left
    if type(n) is not int or n <= 0:
        raise stripe_error(400, 'Invalid positive integer', code='parameter_invalid_integer', param='amount')
    if n > left:
        raise stripe_error(400, 'Refund amount (%d) is greater than unrefunded amount on charge (%d)' % (n, left),
                           code='amount_too_large', param='amount')
    _orig_refund_init(self, charge=ch.id, amount=n, metadata=metadata, **kwargs)
    self.payment_intent = getattr(ch, 'payment_intent', None)
    self.reason = reason
    schedule('charge.refunded', ch)
    schedule('refund.created', self)


r.Refund.__init__ = _refund_init


# ---- 12. disputes -------------------------------------------------------------
# localstripe has no disputes. Stripe's shape, enough for a dispute's life:
# the bank opens one on a captured charge (POST /_config/disputes
# payment_intent=pi_… reason=…, the test's stand-in for the bank), the
# merchant reads it (GET /v1/disputes/{id}) and answers with evidence
# (POST /v1/disputes/{id} evidence[…]=… submit=true), and the bank decides
# (POST /_config/disputes/{id}/close won=true|false). Each step sends the
# charge.dispute.* events Stripe sends.

EVIDENCE_FIELDS = (
    'access_activity_log', 'billing_address', 'cancellation_policy', 'cancellation_policy_disclosure',
    'cancellation_rebuttal', 'customer_communication', 'customer_email_address', 'customer_name',
    'customer_purchase_ip', 'customer_signature', 'duplicate_charge_documentation',
    'duplicate_charge_explanation', 'duplicate_charge_id', 'product_description', 'receipt', 'refund_policy',
    'refund_policy_disclosure', 'refund_refusal_explanation', 'service_date', 'service_documentation',
    'shipping_address', 'shipping_carrier', 'shipping_date', 'shipping_documentation',
    'shipping_tracking_number', 'uncategorized_file', 'uncategorized_text')


class Dispute(StripeObject):
    object = 'dispute'
    _id_prefix = 'dp_'

    def __init__(self, payment_intent=None, reason='general'):
        pi = PaymentIntent._api_retrieve(payment_intent)
        ch = pi.latest_charge
        if ch is None or not ch.captured:
            raise stripe_error(400, 'Only a captured charge can be disputed.')
        if any(isinstance(o, Dispute) and o.charge == ch.id for o in list(r.store.values())):
            raise stripe_error(400, 'This charge is already disputed.')
        super().__init__()
        self.created = int(now())
        self.payment_intent = pi.id
        self.charge = ch.id
        self.amount = _captured_amount(ch)
        self.currency = ch.currency
        self.reason = reason
        self.status = 'needs_response'
        self.is_charge_refundable = False
        self.metadata = {}
        self.evidence = {k: None for k in EVIDENCE_FIELDS}
        self.evidence_details = {'due_by': int(now()) + 7 * 86400, 'has_evidence': False, 'past_due': False,
                                 'submission_count': 0}
        self.balance_transactions = [{'id': 'txn_' + uuid.uuid4().hex[:14], 'amount': -self.amount}]
        schedule('charge.dispute.created', self)
        schedule('charge.dispute.funds_withdrawn', self)


def _api_update_dispute(cls, id, evidence=None, submit=None, metadata=None, **kwargs):
    if kwargs:
        raise UserError(400, 'Unexpected ' + ', '.join(kwargs.keys()))
    obj = cls._api_retrieve(id)
    if obj.status not in ('needs_response', 'warning_needs_response'):
        raise stripe_error(400, 'This dispute is %s: its evidence can no longer be changed.' % obj.status,
                           code='dispute_already_submitted')
    evidence = evidence or {}
    if not isinstance(evidence, dict):
        raise stripe_error(400, 'Invalid evidence', param='evidence')
    for k, v in evidence.items():
        if k not in EVIDENCE_FIELDS:
            raise stripe_error(400, 'Received unknown parameter: evidence[%s]' % k, code='parameter_unknown',
                               param='evidence[%s]' % k)
        obj.evidence[k] = v
    if sum(len(v) for v in obj.evidence.values() if isinstance(v, str)) > 150000:
        raise stripe_error(400, 'The evidence text fields exceed 150,000 characters.', param='evidence')
    if metadata:
        obj.metadata.update(metadata)
    obj.evidence_details['has_evidence'] = any(v for v in obj.evidence.values())
    if str(submit).lower() == 'true':
        obj.status = 'under_review' if obj.status == 'needs_response' else 'warning_under_review'
        obj.evidence_details['submission_count'] += 1
    schedule('charge.dispute.updated', obj)
    return obj


Dispute._api_update_dispute = classmethod(_api_update_dispute)
r.extra_apis.insert(0, ('GET', '/v1/disputes/{id}', Dispute._api_retrieve))
r.extra_apis.insert(0, ('POST', '/v1/disputes/{id}', Dispute._api_update_dispute))


async def dispute_open_handler(request):
    data = await request.post()
    try:
        d = Dispute(payment_intent=data.get('payment_intent'), reason=data.get('reason', 'general'))
    except UserError as e:
        return e.to_response()
    return web.json_response(d._export())


async def dispute_close_handler(request):
    data = await request.post()
    try:
        d = Dispute._api_retrieve(request.match_info['id'])
    except UserError as e:
        return e.to_response()
    if d.status in ('won', 'lost', 'warning_closed'):
        return web.json_response({'error': {'message': 'This dispute is already %s.' % d.status}}, status=400)
    won = str(data.get('won', 'false')).lower() == 'true'
    d.status = 'won' if won else 'lost'
    if won:
        d.balance_transactions.append({'id': 'txn_' + uuid.uuid4().hex[:14], 'amount': d.amount})
        schedule('charge.dispute.funds_reinstated', d)
    schedule('charge.dispute.closed', d)
    return web.json_response(d._export())


# ---- 7. delivery ------------------------------------------------------------

async def _send_webhook(event):
    await asyncio.sleep(WEBHOOK_DELAY)
    event.api_version = API_VERSION
    payload = json.dumps(event._export(), indent=2, sort_keys=True).encode('utf-8')
    t = int(now())
    import aiohttp
    for webhook in list(wh._webhooks.values()):
        if webhook.events is not None and event.type not in webhook.events:
            continue
        sig = hmac.new(webhook.secret.encode('utf-8'), b'%d.%s' % (t, payload), hashlib.sha256).hexdigest()
        headers = {'Content-Type': 'application/json; charset=utf-8', 'Stripe-Signature': 't=%d,v1=%s' % (t, sig)}
        try:
            async with aiohttp.ClientSession() as session:
                async with session.post(webhook.url, data=payload, headers=headers) as resp:
                    logging.getLogger('webhooks').info('%s -> %d', event.type, resp.status)
        except Exception as e:  # delivery failures are only logged, as stock
            logging.getLogger('webhooks').info('%s failed: %s', event.type, e)


wh._send_webhook = _send_webhook


# ---- the emulator clock: lapses ----------------------------------------------

def _lapse_due():
    """Every authorization older than Stripe's 7 days lapses, as on Stripe:
    the PaymentIntent is canceled with cancellation_reason=expired and the
    uncaptured charge expires (charge.expired)."""
    lapsed = []
    for key, obj in list(r.store.items()):
        if not key.startswith('payment_intent:') or obj.status != 'requires_capture':
            continue
        ch = obj.latest_charge
        if ch is None or ch.created + HOLD_SECONDS > now():
            continue
        obj._canceled = True
        obj._cancellation_reason = 'expired'
        obj._canceled_at = int(now())
        ch._expired = True
        schedule('charge.expired', ch)
        schedule('payment_intent.canceled', obj)
        lapsed.append(obj.id)
    return lapsed


async def clock_handler(request):
    data = await request.post()
    try:
        secs = int(data.get('advance_secs', '0'))
    except ValueError:
        return web.json_response({'error': {'message': 'advance_secs must be a whole number'}}, status=400)
    if secs < 0:
        return web.json_response({'error': {'message': 'the clock only moves forward'}}, status=400)
    _clock['offset'] += secs
    return web.json_response({'now': int(now()), 'lapsed': _lapse_due()})


# ---- Stripe.js: the stand-in and the browser's confirmation ---------------------

STANDIN_JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'stripe_js_standin.js')


async def standin_js(request):
    with open(STANDIN_JS, 'rb') as f:
        body = f.read()
    return web.Response(body=body, content_type='application/javascript')


BROWSER_CONFIRM = re.compile(r'^/v1/payment_intents/(pi_\w+)/confirm$')


@web.middleware
async def browser_confirm_middleware(request, handler):
    """Stripe.js confirms from the guest's browser with the publishable key
    and the PaymentIntent's client secret, never the secret key. Stock
    localstripe has no such route; this one checks both and otherwise runs
    the same confirmation as the server-side call."""
    if request.path == '/js.stripe.com/v3/':
        # Ours replaces localstripe's stand-in, which only knows the 3-D
        # Secure step and cannot confirm a card typed into the page.
        return await standin_js(request)
    m = BROWSER_CONFIRM.match(request.path)
    if request.method != 'POST' or m is None or request.headers.get('Authorization'):
        return await handler(request)
    data = await request.post()
    if not str(data.get('key', '')).startswith('pk_'):
        return web.json_response({'error': {'type': 'invalid_request_error', 'message': 'Invalid API Key provided'}},
                                 status=401)
    try:
        pi = PaymentIntent._api_retrieve(m.group(1))
        if not hmac.compare_digest(str(data.get('client_secret', '')), pi.client_secret):
            raise stripe_error(400, 'The client_secret provided does not match the client_secret associated with '
                               'the PaymentIntent.', code='payment_intent_invalid_parameter', param='client_secret')
        card = {k: data.get('payment_method_data[card][%s]' % k, '') for k in ('number', 'exp_month', 'exp_year', 'cvc')}
        card['number'] = card['number'].replace(' ', '')
        if len(card['number']) < 12 or not card['number'].isdigit():
            raise stripe_error(402, 'Your card number is incorrect.', type='card_error', code='incorrect_number',
                               param='number')
        pm = PaymentMethod._api_create(type='card', card=card)
        obj = PaymentIntent._api_confirm(pi.id, payment_method=pm.id)
        return web.json_response(obj._export())
    except UserError as e:
        return e.to_response()


# ---- rate limits on request -----------------------------------------------------

_rate_limit = {'count': 0, 'status': 429}


async def rate_limit_config(request):
    """POST /_config/rate_limit count=N [status=429|400]: the next N API
    requests answer Stripe's rate-limit error (400 is the legacy form)."""
    data = await request.post()
    try:
        _rate_limit['count'] = int(data.get('count', '1'))
        _rate_limit['status'] = int(data.get('status', '429'))
    except ValueError:
        return web.json_response({'error': {'message': 'count and status are whole numbers'}}, status=400)
    return web.json_response(dict(_rate_limit))


@web.middleware
async def rate_limit_middleware(request, handler):
    if _rate_limit['count'] > 0 and request.path.startswith('/v1/'):
        _rate_limit['count'] -= 1
        return web.json_response({'error': {
            'type': 'invalid_request_error', 'code': 'rate_limit',
            'message': 'Too many requests hit the API too quickly.'}}, status=_rate_limit['status'])
    return await handler(request)


# ---- 5. idempotency ---------------------------------------------------------

_idem = {}


@web.middleware
async def idempotency_middleware(request, handler):
    key = request.headers.get('Idempotency-Key')
    if request.method != 'POST' or not key:
        resp = await handler(request)
        resp.headers['Request-Id'] = 'req_' + uuid.uuid4().hex[:14]
        return resp
    body = await request.read()
    fingerprint = hashlib.sha256(request.path.encode() + b'\0' + body).hexdigest()
    auth = request.headers.get('Authorization', '')
    slot = (auth, key)
    entry = _idem.get(slot)
    if entry is not None and now() - entry['at'] >= IDEMPOTENCY_TTL:
        # Stripe prunes keys after 24 hours; the key is new again.
        del _idem[slot]
        entry = None
    if entry is not None:
        if entry['fingerprint'] != fingerprint:
            return web.json_response({'error': {
                'type': 'idempotency_error',
                'message': 'Keys for idempotent requests can only be used with the same parameters they were first used with.'}},
                status=400)
        if entry['response'] is None:
            return web.json_response({'error': {
                'type': 'idempotency_error',
                'message': 'There is currently another in-progress request using this Idempotent Key.'}}, status=409)
        status, text, ctype = entry['response']
        resp = web.Response(status=status, text=text, content_type=ctype)
        resp.headers['Idempotent-Replayed'] = 'true'
        return resp
    _idem[slot] = {'fingerprint': fingerprint, 'response': None, 'at': now()}
    try:
        resp = await handler(request)
    except UserError as e:
        resp = e.to_response()
    except Exception:
        del _idem[slot]
        raise
    if resp.status in (401, 409, 429):
        del _idem[slot]
    else:
        text = resp.text if hasattr(resp, 'text') and resp.text is not None else ''
        _idem[slot]['response'] = (resp.status, text, resp.content_type or 'application/json')
    resp.headers['Request-Id'] = 'req_' + uuid.uuid4().hex[:14]
    return resp


def main():
    global WEBHOOK_DELAY
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--webhook-delay', type=float, default=WEBHOOK_DELAY)
    args = parser.parse_args()
    WEBHOOK_DELAY = args.webhook_delay

    # Importing the server builds the app; register the extra route first.
    import localstripe.server as server
    server.app.middlewares.insert(1, idempotency_middleware)
    server.app.middlewares.insert(1, browser_confirm_middleware)
    # Before idempotency: like Stripe, a rate-limited request is not stored.
    server.app.middlewares.insert(1, rate_limit_middleware)
    server.app.router.add_post('/_config/rate_limit', rate_limit_config)
    server.app.router.add_get('/_config/rate_limit', lambda request: web.json_response(dict(_rate_limit)))
    server.app.router.add_post('/_config/clock', clock_handler)
    server.app.router.add_post('/_config/disputes', dispute_open_handler)
    server.app.router.add_post('/_config/disputes/{id}/close', dispute_close_handler)
    logging.basicConfig(level=logging.WARNING)
    web.run_app(server.app, host='127.0.0.1', port=args.port, print=lambda *_: print('READY', flush=True),
                access_log=None)


if __name__ == '__main__':
    main()
