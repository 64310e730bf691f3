#!/usr/bin/python3
"""An independent client of erpgate's RFC 8693 token exchange.

Uses Authlib (Debian's python3-authlib), which erpgate itself does not use,
to do what a middle-tier service would:

  1. read the discovery document and the JWKS;
  2. get a subject token: client_credentials as the subject's app;
  3. exchange it at the discovered token_endpoint as the middle tier
     (client_secret_basic) for a token for AUDIENCE alone;
  4. verify the exchanged token (signature, iss, aud, exp) with authlib.jose
     against the JWKS;
  5. call API_URL with it.

It prints one JSON summary on stdout for e2e/token_exchange_test.go to
check, and exits non-zero only when it could not run at all.

usage: authlib_token_exchange.py DISCOVERY_URL SUBJECT_CLIENT SUBJECT_SECRET
       CLIENT_ID CLIENT_SECRET AUDIENCE API_URL
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
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


def main(argv):
    if len(argv) != 8:
        print(__doc__, file=sys.stderr)
        return 2
    discovery_url, sub_id, sub_secret, client_id, secret, audience, api_url = argv[1:]
    meta = requests.get(discovery_url, timeout=TIMEOUT).json()
    jwks = requests.get(meta["jwks_uri"], timeout=TIMEOUT).json()
    out = {
        "authlib_version": __import__("authlib").__version__,
        "grant_types_supported": meta.get("grant_types_supported"),
    }
    subject = OAuth2Session(sub_id, sub_secret).fetch_token(
        meta["token_endpoint"], grant_type="client_credentials", timeout=TIMEOUT
    )["access_token"]

    session = OAuth2Session(client_id, secret, token_endpoint_auth_method="client_secret_basic")
    try:
        token = session.fetch_token(
            meta["token_endpoint"],
            grant_type=GRANT,
            subject_token=subject,
            subject_token_type=ACCESS_TOKEN,
            audience=audience,
            timeout=TIMEOUT,
        )
    except Exception as e:  # report, do not crash: the Go test says what failed
        out["error"] = "fetch_token: %s: %s" % (type(e).__name__, e)
        json.dump(out, sys.stdout, indent=2, sort_keys=True)
        return 0
    for k in ("issued_token_type", "token_type", "scope", "expires_in"):
        out[k] = token.get(k)
    out["has_refresh_token"] = "refresh_token" in token
    exchanged = token["access_token"]
    out["same_as_subject"] = exchanged == subject

    jwt = JsonWebToken(meta.get("id_token_signing_alg_values_supported") or ["RS256"])
    try:
        claims = jwt.decode(
            exchanged,
            JsonWebKey.import_key_set(jwks),
            claims_options={
                "iss": {"essential": True, "value": meta["issuer"]},
                "aud": {"essential": True, "value": audience},
                "exp": {"essential": True},
            },
        )
        claims.validate(leeway=30)
        out["verified"] = True
        out["claims"] = {k: claims.get(k) for k in ("aud", "act", "client_id", "scope", "sid")}
    except JoseError as e:
        out["verified"] = False
        out["error"] = "verify: %s: %s" % (type(e).__name__, e)

    # The session adds "Authorization: Bearer <token>" itself.
    out["api_status"] = session.get(api_url, timeout=TIMEOUT).status_code
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
