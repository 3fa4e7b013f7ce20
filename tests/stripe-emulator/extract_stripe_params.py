"""Extracts, from the `stripe` npm package's TypeScript types, the request
parameters Stripe defines for each endpoint the ChittyCharge client calls, at
the API version the client pins. The output (stripe-params.json, beside this
file) is what the contract test checks every recorded request against.

Regenerate (the package's major version must match the pinned API version:
stripe 17.x is 2025-02-24.acacia):

    cd "$(mktemp -d)" && npm pack stripe@17.7.0 && tar xzf stripe-17.7.0.tgz
    python3 /path/to/tests/stripe-emulator/extract_stripe_params.py package/types \\
        > /path/to/tests/stripe-emulator/stripe-params.json

Parameter paths are flattened the way form bodies spell them: `a[b][c]`,
`list[]` for arrays, `map[*]` for string maps such as metadata.
"""

import json
import re
import sys

# (method, path) -> (resource file, params interface)
ENDPOINTS = {
    ('POST', '/v1/payment_intents'): ('PaymentIntentsResource', 'PaymentIntentCreateParams'),
    ('GET', '/v1/payment_intents/{id}'): ('PaymentIntentsResource', 'PaymentIntentRetrieveParams'),
    ('POST', '/v1/payment_intents/{id}'): ('PaymentIntentsResource', 'PaymentIntentUpdateParams'),
    ('GET', '/v1/payment_intents'): ('PaymentIntentsResource', 'PaymentIntentListParams'),
    ('POST', '/v1/payment_intents/{id}/confirm'): ('PaymentIntentsResource', 'PaymentIntentConfirmParams'),
    ('POST', '/v1/payment_intents/{id}/capture'): ('PaymentIntentsResource', 'PaymentIntentCaptureParams'),
    ('POST', '/v1/payment_intents/{id}/cancel'): ('PaymentIntentsResource', 'PaymentIntentCancelParams'),
    ('POST', '/v1/refunds'): ('RefundsResource', 'RefundCreateParams'),
    ('GET', '/v1/disputes/{id}'): ('DisputesResource', 'DisputeRetrieveParams'),
    ('POST', '/v1/disputes/{id}'): ('DisputesResource', 'DisputeUpdateParams'),
    ('POST', '/v1/payment_intents/{id}/increment_authorization'):
        ('PaymentIntentsResource', 'PaymentIntentIncrementAuthorizationParams'),
    ('POST', '/v1/customers'): ('CustomersResource', 'CustomerCreateParams'),
}
PAGINATION = ['ending_before', 'limit', 'starting_after']
MAX_DEPTH = 4


def blocks(text):
    """name -> body of every `interface name {…}` and `namespace name {…}`,
    keyed by their dotted path of enclosing namespaces."""
    out = {}
    stack = []  # (kind, name, start index, depth at open)
    depth = 0
    i = 0
    opener = re.compile(r'\b(interface|namespace)\s+(\w+)(?:\s+extends\s+[\w.]+)?\s*\{')
    while i < len(text):
        m = opener.match(text, i)
        if m:
            stack.append((m.group(1), m.group(2), m.end(), depth))
            depth += 1
            i = m.end()
            continue
        c = text[i]
        if c == '{':
            depth += 1
        elif c == '}':
            depth -= 1
            if stack and stack[-1][3] == depth:
                kind, name, start, _ = stack.pop()
                path = '.'.join([s[1] for s in stack] + [name])
                if kind == 'interface':
                    out[path] = text[start:i]
        i += 1
    return out


def fields(body):
    """Top-level fields of an interface body: name -> type text."""
    body = re.sub(r'/\*.*?\*/', '', body, flags=re.S)
    out = {}
    depth = 0
    for line in body.split('\n'):
        if depth == 0:
            m = re.match(r'\s*(\w+)\??:\s*(.+?);?\s*$', line)
            if m:
                out[m.group(1)] = m.group(2)
        depth += line.count('{') - line.count('}')
    return out


def resolve(interfaces, ref, from_path):
    """The interface a type reference names, resolved as TypeScript does:
    from the innermost enclosing namespace outwards."""
    parts = from_path.split('.')[:-1]
    for k in range(len(parts), -1, -1):
        candidate = '.'.join(parts[:k] + [ref])
        if candidate in interfaces:
            return candidate
    return None


def flatten(interfaces, path, prefix, depth, out):
    for field, typ in fields(interfaces[path]).items():
        key = f'{prefix}[{field}]' if prefix else field
        inner = re.sub(r'Stripe\.Emptyable<(.+)>', r'\1', typ).strip()
        if 'MetadataParam' in inner or re.search(r'\{\s*\[key: string\]', inner):
            out.add(f'{key}[*]')
            continue
        arr = re.match(r'Array<(.+)>$', inner)
        if arr:
            target = resolve(interfaces, arr.group(1).strip(), path)
            if target and depth < MAX_DEPTH:
                flatten(interfaces, target, f'{key}[]', depth + 1, out)
            else:
                out.add(f'{key}[]')
            continue
        ref = re.match(r'([A-Z][\w]*(?:\.[A-Z]\w*)*)(?:\s*\|.*)?$', inner)
        target = resolve(interfaces, ref.group(1), path) if ref else None
        if target and depth < MAX_DEPTH:
            flatten(interfaces, target, key, depth + 1, out)
        else:
            out.add(key)  # a scalar, an enum or an alias: a plain value


def main(types_dir):
    result = {'api_version': None, 'endpoints': {}}
    lib = open(f'{types_dir}/lib.d.ts').read()
    result['api_version'] = re.search(r"LatestApiVersion = '([^']+)'", lib).group(1)
    for (method, path), (resource, iface) in sorted(ENDPOINTS.items()):
        interfaces = blocks(open(f'{types_dir}/{resource}.d.ts').read())
        out = set()
        flatten(interfaces, resolve(interfaces, iface, 'Stripe.x'), '', 0, out)
        if iface.endswith('ListParams'):
            out.update(PAGINATION)
        result['endpoints'][f'{method} {path}'] = sorted(out)
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == '__main__':
    main(sys.argv[1])
