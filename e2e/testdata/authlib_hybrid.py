"""The OpenID Connect hybrid flow (response_type=code id_token, OIDC Core
§3.3) with PKCE against erpgate, with Authlib, an OAuth client erpgate
itself does not use. A requests.Session plays the browser and fills in
the login form over plain HTTP; the authorization response is read from
the fragment of the last Location. The ID token is checked against the
JWKS by Authlib, and c_hash and nonce are checked here too, written out
from the spec. The code is then redeemed cross-origin, as a browser app
on the redirect URI's origin would with fetch. Prints a JSON summary for
the Go test to check; every step's outcome is reported, nothing is
asserted here.

usage: authlib_hybrid.py DISCOVERY_URL CLIENT_ID REDIRECT_URI LOGIN PASSWORD
"""
import base64
import hashlib
import hmac
import json
import re
import sys
from html import unescape
from urllib.parse import parse_qs, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oauth2.client import DEFAULT_HEADERS
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken, HybridIDToken


def hidden_fields(page):
    return {unescape(n): unescape(v) for n, v in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


def split_location(location):
    """The redirect URI, its query and the fragment's parameters."""
    before, _, fragment = location.partition("#")
    base, _, query = before.partition("?")
    return base, query, {k: v[0] for k, v in parse_qs(fragment).items()}


def half_hash(value, alg):
    """OIDC Core §3.3.2.11: hash the ASCII octets of the value with the
    hash of the ID token's alg, base64url the left-most half."""
    digest = (hashlib.sha512 if alg == "EdDSA" else {"256": hashlib.sha256, "384": hashlib.sha384,
                                                       "512": hashlib.sha512}[alg[2:]])(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:len(digest) // 2]).rstrip(b"=").decode("ascii")


def jose_header(token):
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def hybrid_request(client, endpoint, **extra):
    """A hybrid authorization request: Authlib adds PKCE by itself only
    for response_type=code, so the challenge is added here."""
    verifier, nonce = generate_token(64), generate_token(20)
    url, state = client.create_authorization_url(
        endpoint, response_type="code id_token", nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256", **extra)
    return url, state, nonce, verifier


def main():
    discovery_url, client_id, redirect_uri, login, password = sys.argv[1:6]
    u = urlparse(redirect_uri)
    origin = u.scheme + "://" + u.netloc
    out = {"origin": origin}
    meta = requests.get(discovery_url, timeout=10).json()
    out["response_types_supported"] = meta.get("response_types_supported")
    jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())

    client = OAuth2Session(client_id, redirect_uri=redirect_uri, scope="openid profile read",
                           token_endpoint_auth_method="none")
    url, state, nonce, verifier = hybrid_request(client, meta["authorization_endpoint"])

    browser = requests.Session()
    r = browser.get(url, allow_redirects=False, timeout=10)
    out["authorize_status"] = r.status_code
    login_url = requests.compat.urljoin(url, r.headers.get("Location", ""))
    page = browser.get(login_url, timeout=10)
    out["login_page_status"] = page.status_code
    form = hidden_fields(page.text)
    form.update({"login": login, "password": password})
    action = requests.compat.urljoin(login_url, re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))
    r = browser.post(action, data=form, allow_redirects=False, timeout=10)
    out["login_status"] = r.status_code
    base, query, resp = split_location(r.headers.get("Location", ""))
    out["location_base"], out["location_query"] = base, query
    out["response_keys"] = sorted(resp)
    out["response_iss"] = resp.get("iss")
    out["state_matches"] = resp.get("state") == state
    code, id_token = resp.get("code", ""), resp.get("id_token", "")

    # Authlib's own judgement: signature against the JWKS, iss, aud, exp,
    # nonce and c_hash (HybridIDToken).
    try:
        front = jwt.decode(id_token, jwks, claims_cls=HybridIDToken, claims_options={
            "iss": {"essential": True, "value": meta["issuer"]},
            "aud": {"essential": True, "value": client_id},
        }, claims_params={"nonce": nonce, "code": code})
        front.validate()
        out["authlib_valid"] = True
    except Exception as e:  # reported, judged by the Go test
        out["authlib_valid"], out["authlib_error"] = False, repr(e)
        front = jwt.decode(id_token, jwks)
    alg = jose_header(id_token).get("alg")
    out["id_token_alg"] = alg
    out["id_token"] = {k: front.get(k) for k in ("iss", "sub", "aud", "azp", "sid", "nonce", "c_hash", "at_hash", "auth_time")}
    # The checks written out: c_hash over this code, over no other.
    c_hash = front.get("c_hash") or ""
    out["c_hash_matches"] = hmac.compare_digest(c_hash, half_hash(code, alg))
    other = code[:-1] + ("A" if code[-1:] != "A" else "B")
    out["c_hash_matches_other_code"] = hmac.compare_digest(c_hash, half_hash(other, alg))
    out["nonce_matches"] = front.get("nonce") == nonce

    # A browser app on the redirect URI's origin: preflight, then the
    # code exchange with Origin, answered with CORS.
    pre = requests.options(meta["token_endpoint"], headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"}, timeout=10)
    out["preflight"] = {"status": pre.status_code, "allow_origin": pre.headers.get("Access-Control-Allow-Origin"),
                        "allow_credentials": pre.headers.get("Access-Control-Allow-Credentials")}
    seen = {}

    def keep(resp):
        seen["allow_origin"] = resp.headers.get("Access-Control-Allow-Origin")
        return resp
    client.register_compliance_hook("access_token_response", keep)
    token = client.fetch_token(meta["token_endpoint"], grant_type="authorization_code", code=code,
                               code_verifier=verifier, headers=dict(DEFAULT_HEADERS, Origin=origin))
    out["token_allow_origin"] = seen.get("allow_origin")
    out["token_keys"] = sorted(token.keys())
    try:
        back = jwt.decode(token["id_token"], jwks, claims_cls=CodeIDToken, claims_options={
            "iss": {"essential": True, "value": meta["issuer"]},
            "aud": {"essential": True, "value": client_id},
            "nonce": {"essential": True, "value": nonce},
        }, claims_params={"nonce": nonce, "access_token": token["access_token"]})
        back.validate()
        out["token_id_token_valid"] = True
    except Exception as e:
        out["token_id_token_valid"], out["token_id_token_error"] = False, repr(e)
        back = jwt.decode(token["id_token"], jwks)
    out["token_id_token"] = {k: back.get(k) for k in ("sub", "sid", "nonce", "c_hash", "at_hash")}

    again = requests.post(meta["token_endpoint"], data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "code_verifier": verifier, "client_id": client_id}, timeout=10)
    out["replay"] = {"status": again.status_code, "error": again.json().get("error")}

    # With the sign-in still live, response_mode=query is refused, and
    # the refusal comes in the fragment, not the query.
    url, state, _, _ = hybrid_request(client, meta["authorization_endpoint"], response_mode="query")
    r = browser.get(url, allow_redirects=False, timeout=10)
    base, query, resp = split_location(r.headers.get("Location", ""))
    out["query_mode"] = {"status": r.status_code, "location_base": base, "location_query": query,
                         "error": resp.get("error"), "iss": resp.get("iss"), "state_matches": resp.get("state") == state,
                         "has_code": "code" in resp or "id_token" in resp}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
