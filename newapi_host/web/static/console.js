// New API console: the project's own progressive enhancement (fetch + JSON, no framework).
"use strict";
(function () {
  const T = JSON.parse(document.getElementById("i18n").textContent);
  const USER_KEY = "newapi_user_id";
  const page = document.body.dataset.page;
  const perUnit = parseFloat(document.body.dataset.quotaPerUnit) || 500000;
  const msgBox = document.querySelector(".msg");

  function show(text, ok) {
    if (!msgBox) return;
    msgBox.textContent = text || "";
    msgBox.classList.toggle("ok", !!ok);
    msgBox.hidden = !text;
  }

  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    const uid = localStorage.getItem(USER_KEY);
    if (uid) headers["New-Api-User"] = uid;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(url, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status === 401 && page !== "login") {
      localStorage.removeItem(USER_KEY);
      location.href = "/login";
      return { success: false, message: "" };
    }
    if (r.status === 403) return { success: false, message: T.not_allowed };
    try {
      return await r.json();
    } catch (e) {
      return { success: false, message: T.request_failed + " (" + r.status + ")" };
    }
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  const usd = (quota) => "$" + (quota / perUnit).toFixed(2);
  const formData = (form) => Object.fromEntries(new FormData(form).entries());

  function onSubmit(name, handler) {
    const form = document.querySelector('form[data-form="' + name + '"]');
    if (!form) return;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      show("");
      try {
        await handler(form);
      } catch (e) {
        show(T.request_failed);
      } finally {
        button.disabled = false;
      }
    });
  }

  function samePasswords(data) {
    if (data.password !== data.confirmPassword) {
      show(T.passwords_differ);
      return false;
    }
    return true;
  }

  document.querySelectorAll("[data-logout]").forEach((a) =>
    a.addEventListener("click", async (ev) => {
      ev.preventDefault();
      await api("GET", "/api/user/logout");
      localStorage.removeItem(USER_KEY);
      location.href = "/login";
    })
  );

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

  async function loadDashboard() {
    const res = await api("GET", "/api/user/self");
    if (!res.success) return show(res.message);
    const set = (key, value) => (document.querySelector('[data-stat="' + key + '"]').textContent = value);
    set("balance", usd(res.data.quota));
    set("used_quota", usd(res.data.used_quota));
    set("request_count", res.data.request_count);
  }

  async function loadTokens() {
    const tbody = document.querySelector('[data-list="tokens"]');
    const res = await api("GET", "/api/token/?p=1&page_size=50");
    if (!res.success) return show(res.message);
    tbody.replaceChildren();
    if (!res.data.items.length) tbody.append(el("tr", {}, el("td", { colspan: 5 }, T.no_keys)));
    for (const tok of res.data.items) {
      const on = tok.status === 1;
      const toggle = el("button", {
        type: "button", class: "secondary",
        onclick: async () => {
          const r = await api("PUT", "/api/token/?status_only=true", { id: tok.id, status: on ? 2 : 1 });
          if (!r.success) return show(r.message);
          show("");
          loadTokens();
        },
      }, on ? T.disable : T.enable);
      const remove = el("button", {
        type: "button", class: "danger",
        onclick: async () => {
          if (!confirm(T.confirm_delete)) return;
          const r = await api("DELETE", "/api/token/" + tok.id);
          if (!r.success) return show(r.message);
          show("");
          loadTokens();
        },
      }, T.delete);
      tbody.append(el("tr", {},
        el("td", {}, tok.name),
        el("td", {}, el("code", {}, tok.key)),
        el("td", {}, el("span", { class: on ? "badge on" : "badge" }, on ? T.enabled : T.disabled)),
        el("td", {}, tok.unlimited_quota ? T.unlimited : usd(tok.remain_quota)),
        el("td", {}, toggle, remove)));
    }
  }

  onSubmit("token", async (form) => {
    const unlimited = form.elements.unlimited_quota.checked;
    const res = await api("POST", "/api/token/", {
      name: form.elements.name.value,
      unlimited_quota: unlimited,
      remain_quota: unlimited ? 0 : Math.round(parseFloat(form.elements.remain_quota.value || "0") * perUnit),
      expired_time: -1,
    });
    if (!res.success) return show(res.message);
    const box = document.querySelector(".newkey");
    box.querySelector("[data-newkey]").textContent = res.data.key;
    box.hidden = false;
    form.reset();
    loadTokens();
  });

  const copyButton = document.querySelector("[data-copy]");
  if (copyButton) {
    copyButton.addEventListener("click", async () => {
      const key = document.querySelector("[data-newkey]").textContent;
      try {
        await navigator.clipboard.writeText(key);
      } catch (e) {
        const range = document.createRange();
        range.selectNodeContents(document.querySelector("[data-newkey]"));
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        document.execCommand("copy");
      }
      copyButton.textContent = T.copied;
      setTimeout(() => (copyButton.textContent = T.copy), 1500);
    });
  }

  function providesSummary(provides) {
    return Object.entries(provides || {})
      .filter(([, v]) => v && v.length)
      .map(([k, v]) => k + ": " + v.map((x) => (typeof x === "object" ? x.name : x)).join(", "))
      .join("; ");
  }

  async function loadPlugins() {
    const tbody = document.querySelector('[data-list="plugins"]');
    const res = await api("GET", "/api/plugins");
    if (!res.success) return show(res.message);
    tbody.replaceChildren();
    if (!res.data.length) tbody.append(el("tr", {}, el("td", { colspan: 6 }, T.no_plugins)));
    for (const p of res.data) {
      const toggle = el("button", {
        type: "button", class: p.enabled ? "" : "secondary", "aria-pressed": String(p.enabled),
        onclick: async () => {
          const r = await api("PUT", "/api/plugins/" + encodeURIComponent(p.name), { enabled: !p.enabled });
          if (!r.success) return show(r.message);
          show("");
          loadPlugins();
        },
      }, p.enabled ? T.on : T.off);
      if (!p.loaded || p.blocked) toggle.disabled = true;
      tbody.append(el("tr", {},
        el("td", {}, p.name, p.builtin ? el("span", { class: "badge" }, T.builtin) : ""),
        el("td", {}, p.distribution || ""),
        el("td", {}, p.version || ""),
        el("td", {}, providesSummary(p.provides)),
        el("td", {}, el("span", { class: "error" }, p.load_error || p.settings_error || "")),
        el("td", {}, toggle)));
    }
  }

  if (page === "dashboard") loadDashboard();
  if (page === "keys") loadTokens();
  if (page === "plugins") loadPlugins();
})();
