# Signs a webhook payload with the official Stripe Python SDK, so the
# service's verifier is checked against Stripe's own implementation.
# Usage: python sign_payload.py SECRET [TIMESTAMP] < payload  -> header on stdout
import sys

import stripe

payload = sys.stdin.buffer.read().decode('utf-8')
secret = sys.argv[1]
timestamp = int(sys.argv[2]) if len(sys.argv) > 2 else None
kwargs = {'timestamp': timestamp} if timestamp is not None else {}
print(stripe.WebhookSignature.generate_signature_header(payload, secret, **kwargs), end='')
