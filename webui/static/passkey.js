// Passkeys (WebAuthn). A <button data-passkey="create|get"> inside a form
// runs the ceremony whose options (JSON, base64url byte strings as the
// server's library writes them) are in its data-options attribute, puts
// the authenticator's answer as JSON in the form's "credential" field and
// submits the form; the server answers as to any form. The buttons are
// hidden without script (class "passkey" stays hidden until this runs)
// and when the browser has no WebAuthn.
(function () {
  "use strict";
  function b64u(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function enc(buf) {
    if (!buf) return null;
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: b64u(c.id) }); });
  }
  function answer(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: enc(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: enc(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = enc(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = enc(r.authenticatorData);
      out.response.signature = enc(r.signature);
      if (r.userHandle) out.response.userHandle = enc(r.userHandle);
    }
    return JSON.stringify(out);
  }
  function fail(b) {
    var id = b.getAttribute("data-status");
    var el = id && document.getElementById(id);
    if (el) el.textContent = b.getAttribute("data-failed") || "";
  }
  var supported = !!(window.PublicKeyCredential && navigator.credentials);
  document.querySelectorAll("[data-passkey]").forEach(function (b) {
    if (supported) b.hidden = false;
  });
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button[data-passkey]");
    if (!b || !supported) return;
    e.preventDefault();
    var form = b.form, pk = JSON.parse(b.getAttribute("data-options")).publicKey, p;
    pk.challenge = b64u(pk.challenge);
    if (b.getAttribute("data-passkey") === "create") {
      pk.user.id = b64u(pk.user.id);
      pk.excludeCredentials = ids(pk.excludeCredentials);
      p = navigator.credentials.create({ publicKey: pk });
    } else {
      pk.allowCredentials = ids(pk.allowCredentials);
      p = navigator.credentials.get({ publicKey: pk });
    }
    b.disabled = true;
    p.then(function (cred) {
      form.elements.credential.value = answer(cred);
      form.submit();
    }, function () {
      b.disabled = false;
      fail(b);
    });
  });
})();
