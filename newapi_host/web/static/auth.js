// Sign in, sign up and first-run setup.
"use strict";
(function () {
  const { T, USER_KEY, api, el, show, formData, onSubmit, passkey } = window.NA;

  function samePasswords(data) {
    if (data.password !== data.confirmPassword) {
      show(T.passwords_differ);
      return false;
    }
    return true;
  }

  // Turnstile (when the site turns it on): the page carries Cloudflare's widget, which calls
  // window.onTurnstile with a token; the token goes with the request.
  let turnstileToken = "";
  window.onTurnstile = (token) => (turnstileToken = token);
  function withTurnstile(path) {
    return turnstileToken ? path + "?turnstile=" + encodeURIComponent(turnstileToken) : path;
  }

  /** Buttons for the enabled sign-in methods that send the browser elsewhere (OAuth and the like). */
  async function loadLoginMethods() {
    const box = document.querySelector("[data-login-methods]");
    if (!box) return;
    const res = await api("GET", "/api/status");
    if (!res.success) return;
    for (const m of res.data.login_methods || []) {
      if (m.kind !== "redirect") continue;
      box.append(el("a", { class: "button secondary", href: "/api/oauth/" + encodeURIComponent(m.id) },
        T.sign_in_with.replace("{name}", m.name)));
    }
    for (const p of res.data.custom_oauth_providers || []) { // root's custom OAuth providers
      box.append(el("a", { class: "button secondary", href: "/api/oauth/" + encodeURIComponent(p.slug) },
        T.sign_in_with.replace("{name}", p.name)));
    }
  }

  // Two-factor: the password (or a provider) was right; a code finishes the sign-in.
  let flowToken = "";
  function askSecondFactor(token) {
    flowToken = token || "";
    document.querySelector('form[data-form="login"]').hidden = true;
    const wechat = document.querySelector('form[data-form="wechat-login"]');
    if (wechat) wechat.hidden = true;
    const second = document.querySelector('form[data-form="login2fa"]');
    second.hidden = false;
    second.querySelector("input[name=code]").focus();
  }

  onSubmit("login", async (form) => {
    const res = await api("POST", withTurnstile("/api/user/login"), formData(form));
    if (!res.success) return show(res.message);
    if (res.data && res.data.require_2fa) return askSecondFactor(res.data.flow_token);
    localStorage.setItem(USER_KEY, String(res.data.id));
    location.href = "/console";
  });

  /** The answer of a sign-in: into the console, or on to the second factor. */
  function signedIn(res) {
    if (!res.success) return show(res.message);
    if (res.data && res.data.require_2fa) return askSecondFactor(res.data.flow_token);
    localStorage.setItem(USER_KEY, String(res.data.id));
    location.href = "/console";
  }

  // Telegram's widget (on the page only when the site offers Telegram) calls this with the fields
  // Telegram signed with the bot's token; the gateway checks the signature and the age.
  window.onTelegramAuth = async (user) => {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(user || {})) if (v !== undefined && v !== null) query.set(k, String(v));
    try {
      signedIn(await api("GET", "/api/oauth/telegram/login?" + query));
    } catch (e) {
      show(T.request_failed);
    }
  };

  // WeChat: the code the official account sent, checked by the gateway with the WeChat server.
  onSubmit("wechat-login", async (form) => {
    signedIn(await api("GET", "/api/oauth/wechat?code=" + encodeURIComponent(formData(form).code.trim())));
  });

  onSubmit("login2fa", async (form) => {
    const body = { code: formData(form).code };
    if (flowToken) body.flow_token = flowToken; // else the http-only flow cookie carries it
    const res = await api("POST", "/api/user/login/2fa", body);
    if (!res.success) return show(res.message);
    localStorage.setItem(USER_KEY, String(res.data.id));
    location.href = "/console";
  });

  onSubmit("setup", async (form) => {
    const data = formData(form);
    if (!samePasswords(data)) return;
    const res = await api("POST", "/api/setup", data);
    if (!res.success) return show(res.message);
    show(T.setup_done, true);
    setTimeout(() => (location.href = "/login"), 800);
  });

  onSubmit("register", async (form) => {
    const data = formData(form);
    if (!samePasswords(data)) return;
    const res = await api("POST", withTurnstile("/api/user/register"), { username: data.username, password: data.password });
    if (!res.success) return show(res.message);
    show(T.register_done, true);
    setTimeout(() => (location.href = "/login"), 800);
  });

  // Passkeys: one button, the browser offers the passkeys it has for this site.
  const passkeyButton = document.querySelector('[data-action="passkey-login"]');
  if (passkeyButton && window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
    passkeyButton.hidden = false;
    passkeyButton.addEventListener("click", async () => {
      try {
        const res = await passkey("get", "/api/user/passkey/login/begin", "/api/user/passkey/login/finish");
        if (!res.success) return show(res.message);
        localStorage.setItem(USER_KEY, String(res.data.id));
        location.href = "/console";
      } catch (e) {
        show(String(e.message || e));
      }
    });
  }

  const query = new URLSearchParams(location.search);
  if (query.get("oauth_error")) show(query.get("oauth_error"));
  if (query.get("require_2fa") && document.querySelector('form[data-form="login2fa"]')) askSecondFactor("");
  loadLoginMethods();
})();
