# A small fault-injecting HTTP proxy for ChittyCharge's fault tests.
#
# It forwards every request to --upstream and, for about --fail-rate of them,
# misbehaves in one of four ways a real network or Stripe can:
#   drop_before  close the connection without forwarding (nothing happened)
#   error_after  forward, then answer 500 (it happened; the answer is lost)
#   drop_after   forward, then close the connection (it happened; no answer)
#   slow         wait --slow-secs before forwarding (the client may time out)
# Faults are drawn from a seeded generator, so a run is repeatable.
# A test can also script faults: POST /_fault/script with
#   {"path_contains": "/capture", "mode": "error_after_no_retry", "count": 1}
# (and optionally "body_contains": a substring of the form-encoded body)
# makes the next `count` matching requests misbehave in `mode` (any of the
# four above, `error_after_no_retry`: forward, then 500 with
# Stripe-Should-Retry: false, or `down`: drop without forwarding). Rate-limit
# answers come from the emulator itself (POST /_config/rate_limit).
# Prints "READY" once listening on 127.0.0.1:--port; prints counts on exit.

import argparse
import json
import asyncio
import random
import signal

import aiohttp
from aiohttp import web

COUNTS = {'forwarded': 0, 'drop_before': 0, 'error_after': 0, 'drop_after': 0, 'slow': 0}
HOP = {'host', 'content-length', 'transfer-encoding', 'connection'}


def record(log, request, body):
    # One JSON line per request: what the client sent, for the contract test.
    from urllib.parse import parse_qsl
    params = parse_qsl(request.query_string, keep_blank_values=True)
    if request.method != 'GET':
        params += parse_qsl(body.decode('utf-8', 'replace'), keep_blank_values=True)
    with open(log, 'a') as f:
        f.write(json.dumps({'method': request.method, 'path': request.path,
                            'params': sorted({k for k, _ in params})}) + '\n')


def build(upstream, rate, slow_secs, seed, log=None):
    rng = random.Random(seed)
    session_holder = {}

    async def forward(request, body):
        session = session_holder.get('s')
        if session is None:
            session = session_holder['s'] = aiohttp.ClientSession(auto_decompress=False)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        async with session.request(request.method, upstream + request.path_qs, data=body, headers=headers) as resp:
            payload = await resp.read()
            out = web.Response(status=resp.status, body=payload)
            for k, v in resp.headers.items():
                if k.lower() not in HOP and k.lower() != 'content-encoding':
                    out.headers[k] = v
            return out

    def drop(request):
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    scripts = []

    async def script(request):
        spec = await request.json()
        scripts.append({'path_contains': spec.get('path_contains', ''), 'mode': spec['mode'],
                        'body_contains': spec.get('body_contains', '').encode(),
                        'count': int(spec.get('count', 1))})
        return web.json_response({'ok': True, 'scripts': len(scripts)})

    def scripted(request, body):
        for s in scripts:
            if s['count'] > 0 and s['path_contains'] in request.path and s['body_contains'] in body:
                s['count'] -= 1
                return s['mode']
        return None

    async def handle(request):
        if request.path == '/_fault/script':
            return await script(request)
        if request.path == '/_fault/counts':
            return web.json_response(COUNTS)
        body = await request.read()
        if log:
            record(log, request, body)
        fault = scripted(request, body)
        if fault == 'down':
            fault = 'drop_before'
        if fault is None and rng.random() < rate:
            fault = rng.choice(['drop_before', 'error_after', 'drop_after', 'slow'])
        if fault == 'drop_before':
            COUNTS['drop_before'] += 1
            return drop(request)
        if fault == 'slow':
            COUNTS['slow'] += 1
            await asyncio.sleep(slow_secs)
        resp = await forward(request, body)
        COUNTS['forwarded'] += 1
        if fault == 'error_after':
            COUNTS['error_after'] += 1
            return web.json_response({'error': {'type': 'api_error', 'message': 'injected fault'}}, status=500)
        if fault == 'error_after_no_retry':
            COUNTS['error_after'] += 1
            return web.json_response({'error': {'type': 'api_error', 'message': 'injected fault'}}, status=500,
                                     headers={'Stripe-Should-Retry': 'false'})
        if fault == 'drop_after':
            COUNTS['drop_after'] += 1
            return drop(request)
        return resp

    app = web.Application()
    app.router.add_route('*', '/{tail:.*}', handle)
    return app


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--upstream', required=True)
    p.add_argument('--fail-rate', type=float, default=0.2)
    p.add_argument('--slow-secs', type=float, default=2.0)
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--log', help='append every request (method, path, parameter names) to this file')
    a = p.parse_args()
    app = build(a.upstream.rstrip('/'), a.fail_rate, a.slow_secs, a.seed, a.log)

    def report(*_):
        print('FAULTS', ' '.join('%s=%d' % kv for kv in sorted(COUNTS.items())), flush=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, report)
    web.run_app(app, host='127.0.0.1', port=a.port, print=lambda *_: print('READY', flush=True), access_log=None)


if __name__ == '__main__':
    main()
