"""Signs request bodies for the engine's status webhook, as the engine does.

The document declares the webhook's credential as the `x-infrastream-signature` header. The
configuration gives that header the placeholder `sign`; this hook replaces it with the
HMAC-SHA256 of the exact bytes about to be sent. A request sent without the credential (the
`ignored_auth` check) carries no placeholder and is left unsigned.
"""

import hashlib
import hmac
import json
import os

import schemathesis

HEADER = "x-infrastream-signature"
SECRET = open(os.environ["ST_WEBHOOK_SECRET_FILE"], "rb").read().strip()


def body_bytes(case):
    body = case.body
    if isinstance(body, bytes):
        return body
    if body is None:
        return b"null"
    # What the requests transport sends for a JSON body.
    return json.dumps(body, allow_nan=False).encode("utf-8")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    name = next((k for k in headers if k.lower() == HEADER), None)
    if name is None or headers[name] != "sign":
        return
    try:
        payload = body_bytes(case)
    except (TypeError, ValueError):
        return
    headers[name] = "sha256=" + hmac.new(SECRET, payload, hashlib.sha256).hexdigest()
    case.headers = headers
