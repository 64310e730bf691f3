"""Authorization code + PKCE against erpgate with Authlib, an OAuth client
erpgate itself does not use. A requests.Session plays the browser and
fills in the login form over plain HTTP. Prints a JSON summary for the Go
test to check; every step's outcome is reported, nothing is asserted here.

usage: authlib_code_flow.py DISCOVERY_URL CLIENT_ID REDIRECT_URI POST_LOGOUT_URI LOGIN PASSWORD
"""
import json
import re
import sys
from html import unescape
from urllib.parse import urlparse, parse_qs, urlencode

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt


def hidden_fields(page):
    return {unescape(n): unescape(v) for n, v in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


def main():
    discovery_url, client_id, redirect_uri, post_logout, login, password = sys.argv[1:7]
    out = {}
    meta = requests.get(discovery_url, timeout=10).json()
    jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())

    client = OAuth2Session(client_id, redirect_uri=redirect_uri,
                           scope="openid profile offline_access read",
                           code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = generate_token(64)
    nonce = generate_token(20)
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)

    browser = requests.Session()
    r = browser.get(url, allow_redirects=False, timeout=10)
    out["authorize_status"] = r.status_code
    login_url = requests.compat.urljoin(url, r.headers.get("Location", ""))
    page = browser.get(login_url, timeout=10)
    out["login_page_status"] = page.status_code
    out["x_frame_options"] = page.headers.get("X-Frame-Options")
    form = hidden_fields(page.text)
    form.update({"login": login, "password": password})
    action = requests.compat.urljoin(login_url, re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))
    r = browser.post(action, data=form, allow_redirects=False, timeout=10)
    location = r.headers.get("Location", "")
    out["login_status"] = r.status_code
    resp = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
    out["response_iss"] = resp.get("iss")
    out["state_matches"] = resp.get("state") == state

    token = client.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    out["token_keys"] = sorted(token.keys())
    claims = jwt.decode(token["id_token"], jwks, claims_options={
        "iss": {"essential": True, "value": meta["issuer"]},
        "aud": {"essential": True, "value": client_id},
        "nonce": {"essential": True, "value": nonce},
    })
    claims.validate()
    out["id_token"] = {k: claims.get(k) for k in ("sub", "sid", "nonce", "auth_time", "at_hash")}

    info = client.get(meta["userinfo_endpoint"], timeout=10)
    out["userinfo_status"] = info.status_code
    out["userinfo"] = info.json()

    first_refresh = token["refresh_token"]
    new = client.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
    out["refresh_rotated"] = new.get("refresh_token") not in (None, first_refresh)
    out["refresh_sid"] = jwt.decode(new["access_token"], jwks).get("sid")

    end = browser.get(meta["end_session_endpoint"] + "?" + urlencode({
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": post_logout, "state": "bye-1"}),
        allow_redirects=False, timeout=10)
    out["endsession_status"] = end.status_code
    out["endsession_location"] = end.headers.get("Location")

    after = requests.post(meta["token_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": new["refresh_token"], "client_id": client_id}, timeout=10)
    out["refresh_after_logout"] = {"status": after.status_code, "error": after.json().get("error")}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
