// Sign in, sign up and first-run setup.
"use strict";
(function () {
  const { T, USER_KEY, api, el, show, formData, onSubmit } = window.NA;

  function samePasswords(data) {
    if (data.password !== data.confirmPassword) {
      show(T.passwords_differ);
      return false;
    }
    return true;
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
  }

  onSubmit("login", async (form) => {
    const res = await api("POST", "/api/user/login", formData(form));
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
    const res = await api("POST", "/api/user/register", { username: data.username, password: data.password });
    if (!res.success) return show(res.message);
    show(T.register_done, true);
    setTimeout(() => (location.href = "/login"), 800);
  });

  const oauthError = new URLSearchParams(location.search).get("oauth_error");
  if (oauthError) show(oauthError);
  loadLoginMethods();
})();
