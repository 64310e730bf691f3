#!/usr/bin/python3
"""An independent OAuth 2.0 client for erpgate's interop test.

Uses Authlib (Debian's python3-authlib), which erpgate itself does not use,
to do what a third-party service would:

  1. read the OpenID Provider discovery document;
  2. fetch a client_credentials token from the discovered token_endpoint with
     client_secret_basic and with client_secret_post;
  3. verify each access token (signature, iss, aud, exp) with authlib.jose
     against the discovered jwks_uri;
  4. call the proxied API with the bearer token.

It prints one JSON summary on stdout for the Go test (e2e/authlib_test.go)
to check, and exits non-zero only when it could not run at all.

usage: authlib_client.py DISCOVERY_URL CLIENT_ID CLIENT_SECRET API_URL AUDIENCE
"""

import json
import os
import sys

# The gateway under test listens on plain http on loopback; Authlib refuses
# http token endpoints unless told otherwise.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")

import requests  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.jose import JsonWebKey, JsonWebToken  # noqa: E402
from authlib.jose.errors import JoseError  # noqa: E402

TIMEOUT = 15  # seconds per HTTP request


def fetch_and_use(meta, jwks, client_id, secret, api_url, audience, method):
    """One round: token with the given client auth method, verify, call."""
    out = {"auth_method": method}
    session = OAuth2Session(
        client_id,
        secret,
        token_endpoint_auth_method=method,
    )
    try:
        token = session.fetch_token(
            meta["token_endpoint"], grant_type="client_credentials", timeout=TIMEOUT
        )
    except Exception as e:  # report, do not crash: the Go test says what failed
        out["error"] = "fetch_token: %s: %s" % (type(e).__name__, e)
        return out
    out["token_type"] = token.get("token_type")
    out["expires_in"] = token.get("expires_in")
    out["has_refresh_token"] = "refresh_token" in token
    access = token["access_token"]

    jwt = JsonWebToken(meta.get("id_token_signing_alg_values_supported") or ["RS256"])
    try:
        claims = jwt.decode(
            access,
            JsonWebKey.import_key_set(jwks),
            claims_options={
                "iss": {"essential": True, "value": meta["issuer"]},
                "aud": {"essential": True, "value": audience},
                "exp": {"essential": True},
            },
        )
        claims.validate(leeway=30)
        out["verified"] = True
        out["header"] = {k: claims.header.get(k) for k in ("alg", "kid", "typ")}
        out["claims"] = {
            k: claims.get(k)
            for k in ("iss", "aud", "client_id", "scope", "client_system_user")
        }
    except JoseError as e:
        out["verified"] = False
        out["error"] = "verify: %s: %s" % (type(e).__name__, e)
        return out

    # The session adds "Authorization: Bearer <token>" itself.
    resp = session.get(api_url, timeout=TIMEOUT)
    out["api_status"] = resp.status_code
    try:
        out["api_auth"] = resp.json().get("auth")
    except ValueError:
        out["api_body"] = resp.text[:500]
    return out


def main(argv):
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    discovery_url, client_id, secret, api_url, audience = argv[1:]
    meta = requests.get(discovery_url, timeout=TIMEOUT).json()
    jwks = requests.get(meta["jwks_uri"], timeout=TIMEOUT).json()
    summary = {
        "authlib_version": __import__("authlib").__version__,
        "issuer": meta.get("issuer"),
        "token_endpoint": meta.get("token_endpoint"),
        "jwks_uri": meta.get("jwks_uri"),
        "jwks_kids": [k.get("kid") for k in jwks.get("keys", [])],
        "results": [
            fetch_and_use(meta, jwks, client_id, secret, api_url, audience, m)
            for m in ("client_secret_basic", "client_secret_post")
        ],
    }
    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
