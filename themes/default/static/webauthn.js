// Passkeys (WebAuthn). Forms marked data-webauthn carry the server's options in
// data-options and a hidden "credential" field: the browser's answer goes there and the
// form is posted like any other. Without WebAuthn (or JavaScript) the forms stay hidden.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      out[i] = raw.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var s = "";
    for (var i = 0; i < bytes.length; i++) {
      s += String.fromCharCode(bytes[i]);
    }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(o);
    }
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return o;
  }

  function requestOptions(o) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(o);
    }
    o.challenge = toBytes(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return o;
  }

  // The credential as JSON (WebAuthn Level 3 toJSON, or the same shape by hand).
  function serialise(cred) {
    if (typeof cred.toJSON === "function") {
      return JSON.stringify(cred.toJSON());
    }
    var r = cred.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) {
        response.userHandle = toB64url(r.userHandle);
      }
    }
    return JSON.stringify({
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: response,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    });
  }

  function fail(form, err) {
    var note = form.querySelector("[data-webauthn-error]");
    if (note && !(err && err.name === "AbortError")) {
      note.hidden = false;
    }
  }

  function post(form, cred) {
    form.querySelector("input[name=credential]").value = serialise(cred);
    // "Keep me signed in" sits in the password form; the passkey form carries it along.
    var keep = document.getElementById("remember");
    var carried = form.querySelector("input[type=hidden][name=remember]");
    if (keep && carried) {
      carried.value = keep.checked ? "yes" : "";
    }
    form.submit();
  }

  // The passkey-autofill request waiting in the background, and how to abort it: a
  // browser runs one request at a time, so a button press aborts it and waits for it.
  var conditional = null;
  var waiting = Promise.resolve();

  function ask(form, mediation) {
    var options = JSON.parse(form.getAttribute("data-options"));
    var kind = form.getAttribute("data-webauthn");
    if (kind === "create") {
      return navigator.credentials.create({ publicKey: creationOptions(options.publicKey) });
    }
    var request = { publicKey: requestOptions(options.publicKey) };
    if (mediation) {
      conditional = new AbortController();
      request.mediation = mediation;
      request.signal = conditional.signal;
    }
    return navigator.credentials.get(request);
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-webauthn]"), function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (ev) {
      if (form.querySelector("input[name=credential]").value) {
        return;
      }
      ev.preventDefault();
      if (conditional) {
        conditional.abort();
        conditional = null;
      }
      waiting.then(function () { return ask(form, null); }).then(function (cred) {
        if (cred) {
          post(form, cred);
        }
      }, function (err) { fail(form, err); });
    });
    // Passkey autofill: the browser offers passkeys in the email field's suggestions.
    if (form.getAttribute("data-webauthn") === "sign-in" && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok) {
          return;
        }
        waiting = ask(form, "conditional").then(function (cred) {
          if (cred) {
            post(form, cred);
          }
        }, function () {});
      });
    }
  });
})();
