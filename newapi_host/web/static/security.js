// The user's account security: linked sign-in accounts (link, unlink), the e-mail address
// (a code mailed to the new one), two-factor sign-in (set up with a QR code drawn by the
// server, turn on with a code, turn off with a code) and passkeys.
"use strict";
(function () {
  const { T, api, el, show, onSubmit, emptyRow, formData, passkey } = window.NA;
  const $ = (selector) => document.querySelector(selector);
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));

  /** "Link <method>" for each redirect sign-in method the user has not linked yet. */
  async function loadLinkButtons(linked) {
    const box = $("[data-link-methods]");
    const status = await api("GET", "/api/status");
    if (!status.success) return;
    box.replaceChildren();
    for (const m of status.data.login_methods || []) {
      if (m.kind !== "redirect" || linked.has(m.id)) continue;
      box.append(el("a", { class: "button secondary", href: "/api/oauth/" + encodeURIComponent(m.id) },
        T.security_link.replace("{name}", m.name)));
    }
    for (const p of status.data.custom_oauth_providers || []) { // linked ones carry the numeric id
      if (linked.has(p.id)) continue;
      box.append(el("a", { class: "button secondary", href: "/api/oauth/" + encodeURIComponent(p.slug) },
        T.security_link.replace("{name}", p.name)));
    }
  }

  async function loadBindings() {
    const tbody = $('[data-list="bindings"]');
    const res = await api("GET", "/api/user/oauth/bindings");
    if (!res.success) return show(res.message);
    const linked = new Set(res.data.map((b) => b.provider_id));
    loadLinkButtons(linked);
    // Telegram's widget and the WeChat code box, rendered by the server when the site offers them.
    for (const box of document.querySelectorAll("[data-link-widget]")) box.hidden = linked.has(box.dataset.linkWidget);
    if (!res.data.length) return emptyRow(tbody, T.security_no_bindings);
    tbody.replaceChildren();
    for (const b of res.data) {
      const unlink = el("button", { type: "button", class: "secondary", "data-action": "unlink", onclick: async () => {
        const done = await api("DELETE", "/api/user/oauth/bindings/" + encodeURIComponent(b.provider_id));
        if (!done.success) return show(done.message);
        loadBindings();
      } }, T.security_unlink);
      tbody.append(el("tr", { "data-id": b.provider_id },
        el("td", {}, b.provider_name), el("td", {}, b.provider_user_id), el("td", {}, unlink)));
    }
  }

  onSubmit("wechat-bind", async (form) => {
    const res = await api("GET", "/api/oauth/wechat/bind?code=" + encodeURIComponent(formData(form).code.trim()));
    if (!res.success) return show(res.message);
    show(T.security_linked, true);
    form.reset();
    loadBindings();
  });

  // E-mail: a code goes to the new address (GET /api/verification), and that code changes it
  // (GET /api/oauth/email/bind), New API's two steps.
  let turnstileToken = "";
  window.onTurnstile = (token) => (turnstileToken = token);
  let newEmail = "";

  async function loadEmail() {
    const res = await api("GET", "/api/user/self");
    if (!res.success) return show(res.message);
    $("[data-email-state]").textContent = res.data.email
      ? fill(T.security_email_current, { email: res.data.email }) : T.security_email_none;
  }

  onSubmit("email-code", async (form) => {
    const email = formData(form).email.trim();
    const query = new URLSearchParams({ email });
    if (turnstileToken) query.set("turnstile", turnstileToken);
    const res = await api("GET", "/api/verification?" + query);
    if (!res.success) return show(res.message);
    newEmail = email;
    show(fill(T.security_email_sent, { email }), true);
    const bind = $('form[data-form="email-bind"]');
    bind.hidden = false;
    bind.querySelector("input[name=code]").focus();
  });

  onSubmit("email-bind", async (form) => {
    const query = new URLSearchParams({ email: newEmail, code: formData(form).code.trim() });
    const res = await api("GET", "/api/oauth/email/bind?" + query);
    if (!res.success) return show(res.message);
    show(T.security_email_changed, true);
    form.reset();
    form.hidden = true;
    $('form[data-form="email-code"]').reset();
    loadEmail();
  });

  let twoFactorOn = false;
  async function loadTwoFactor() {
    const res = await api("GET", "/api/user/2fa/status");
    if (!res.success) return show(res.message);
    const on = res.data.enabled;
    twoFactorOn = on;
    $("[data-twofa-state]").textContent = on
      ? fill(T.security_twofa_on, { count: res.data.backup_codes_remaining ?? 0 }) : T.security_twofa_off;
    $('[data-action="twofa-setup"]').hidden = on;
    $('form[data-form="twofa-disable"]').hidden = !on;
    if (on) $("[data-twofa-new]").hidden = true;
  }

  $('[data-action="twofa-setup"]').addEventListener("click", async () => {
    const res = await api("POST", "/api/user/2fa/setup");
    if (!res.success) return show(res.message);
    // The SVG is drawn by this server from the secret it just made (segno), nothing fetched.
    $("[data-twofa-qr]").innerHTML = res.data.qr_code_svg;
    $("[data-twofa-secret]").textContent = res.data.secret;
    $("[data-twofa-backup]").textContent = res.data.backup_codes.join("\n");
    $("[data-twofa-new]").hidden = false;
  });

  onSubmit("twofa-enable", async (form) => {
    const res = await api("POST", "/api/user/2fa/enable", { code: formData(form).code });
    if (!res.success) return show(res.message);
    show(T.security_twofa_enabled, true);
    form.reset();
    loadTwoFactor();
  });

  onSubmit("twofa-disable", async (form) => {
    const res = await api("POST", "/api/user/2fa/disable", { code: formData(form).code });
    if (!res.success) return show(res.message);
    show(T.security_twofa_disabled, true);
    form.reset();
    loadTwoFactor();
  });

  async function loadPasskeys() {
    const res = await api("GET", "/api/user/passkey");
    if (!res.success) return show(res.message);
    $("[data-passkey-state]").textContent = fill(T.security_passkeys_state, { count: res.data.count });
    $('[data-action="passkey-remove"]').hidden = !res.data.enabled;
  }

  // Adding or removing passkeys needs a step-up first (New API's rule): with two-factor on, a
  // code (asked in the step-up form, then the action runs); otherwise, to remove, a passkey.
  let pendingStepUp = null;
  function askCode(action) {
    pendingStepUp = action;
    const form = $('form[data-form="stepup"]');
    form.hidden = false;
    form.querySelector("input[name=code]").focus();
  }

  onSubmit("stepup", async (form) => {
    const res = await api("POST", "/api/verify", { method: "2fa", code: formData(form).code });
    if (!res.success) return show(res.message);
    form.reset();
    form.hidden = true;
    const action = pendingStepUp;
    pendingStepUp = null;
    if (action) await action();
  });

  async function addPasskey() {
    try {
      const res = await passkey("create", "/api/user/passkey/register/begin", "/api/user/passkey/register/finish");
      if (!res.success) return show(res.message);
      show(T.security_passkey_added, true);
    } catch (e) {
      show(String(e.message || e));
    }
    loadPasskeys();
  }

  async function removePasskeys() {
    const res = await api("DELETE", "/api/user/passkey");
    if (!res.success) return show(res.message);
    show(T.security_passkeys_removed, true);
    loadPasskeys();
  }

  $('[data-action="passkey-add"]').addEventListener("click", () => (twoFactorOn ? askCode(addPasskey) : addPasskey()));

  $('[data-action="passkey-remove"]').addEventListener("click", async () => {
    if (twoFactorOn) return askCode(removePasskeys);
    try {
      const proved = await passkey("get", "/api/user/passkey/verify/begin", "/api/user/passkey/verify/finish");
      if (!proved.success) return show(proved.message);
      const res = await api("POST", "/api/verify", { method: "passkey" });
      if (!res.success) return show(res.message);
    } catch (e) {
      return show(String(e.message || e));
    }
    removePasskeys();
  });

  const query = new URLSearchParams(location.search);
  if (query.get("bind_error")) show(query.get("bind_error"));
  loadBindings();
  loadEmail();
  loadTwoFactor();
  loadPasskeys();
})();
