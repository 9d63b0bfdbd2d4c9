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
    if (!res.data.length) tbody.append(el("tr", {}, el("td", { colspan: 7 }, T.no_plugins)));
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
        el("td", {}, toggle),
        el("td", {}, p.settings_schema
          ? el("a", { href: "/console/plugins/" + encodeURIComponent(p.name) }, T.settings) : "")));
    }
  }

  // -- usage logs -------------------------------------------------------------------------------

  const LOG_PAGE_SIZE = 20;
  let logPage = 1;

  function logFilters() {
    const form = document.querySelector('form[data-form="log-filter"]');
    const q = new URLSearchParams();
    const e = form.elements;
    if (e.model_name.value) q.set("model_name", e.model_name.value);
    if (e.token_name.value) q.set("token_name", e.token_name.value);
    for (const [field, param] of [["start", "start_timestamp"], ["end", "end_timestamp"]]) {
      const ms = e[field].value ? new Date(e[field].value).getTime() : NaN;
      if (!isNaN(ms)) q.set(param, String(Math.floor(ms / 1000)));
    }
    return q;
  }

  async function loadLogs() {
    const tbody = document.querySelector('[data-list="logs"]');
    const filters = logFilters();
    const query = new URLSearchParams(filters);
    query.set("p", String(logPage));
    query.set("page_size", String(LOG_PAGE_SIZE));
    const [res, stat] = await Promise.all([
      api("GET", "/api/log/self?" + query), api("GET", "/api/log/self/stat?" + filters),
    ]);
    if (!res.success) return show(res.message);
    show(stat.success ? "" : stat.message);
    document.querySelector('[data-stat="total_quota"]').textContent = stat.success ? usd(stat.data.quota) : "–";
    const { items, total } = res.data;
    const money = (quota) => "$" + (quota / perUnit).toFixed(6);
    tbody.replaceChildren();
    if (!items.length) tbody.append(el("tr", {}, el("td", { colspan: 9 }, T.no_logs)));
    for (const row of items) {
      tbody.append(el("tr", {},
        el("td", {}, new Date(row.created_at * 1000).toLocaleString()),
        el("td", {}, T["log_type_" + row.type] || String(row.type)),
        el("td", {}, row.model_name || ""),
        el("td", {}, row.token_name || ""),
        el("td", {}, money(row.quota)),
        el("td", {}, row.prompt_tokens),
        el("td", {}, row.completion_tokens),
        el("td", {}, row.use_time),
        el("td", {}, row.is_stream ? T.yes : T.no)));
    }
    const pages = Math.max(1, Math.ceil(total / LOG_PAGE_SIZE));
    document.querySelector("[data-page-info]").textContent = logPage + " / " + pages;
    document.querySelector('[data-page="prev"]').disabled = logPage <= 1;
    document.querySelector('[data-page="next"]').disabled = logPage >= pages;
  }

  onSubmit("log-filter", async () => {
    logPage = 1;
    await loadLogs();
  });
  document.querySelectorAll("button[data-page]").forEach((b) =>
    b.addEventListener("click", () => {
      logPage = Math.max(1, logPage + (b.dataset.page === "next" ? 1 : -1));
      loadLogs();
    })
  );

  // -- pricing ----------------------------------------------------------------------------------

  async function loadPricing() {
    const tbody = document.querySelector('[data-list="pricing"]');
    const res = await api("GET", "/api/pricing");
    if (!res.success) return show(res.message);
    const price = (n) => "$" + +Number(n).toFixed(6);
    tbody.replaceChildren();
    if (!res.data.length) tbody.append(el("tr", {}, el("td", { colspan: 6 }, T.no_models)));
    for (const m of res.data) {
      const perCall = m.quota_type === 1;
      const tr = el("tr", { "data-name": m.model_name.toLowerCase() },
        el("td", {}, el("code", {}, m.model_name)),
        el("td", {}, perCall ? T.per_call : T.per_token),
        el("td", {}, perCall ? "–" : price(m.model_ratio * 2)),
        el("td", {}, perCall ? "–" : price(m.model_ratio * m.completion_ratio * 2)),
        el("td", {}, perCall ? price(m.model_price) : "–"),
        el("td", {}, (m.enable_groups || []).join(", ")));
      tbody.append(tr);
    }
    filterPricing();
  }

  function filterPricing() {
    const box = document.querySelector("[data-search]");
    const needle = box.value.trim().toLowerCase();
    document.querySelectorAll('[data-list="pricing"] tr[data-name]').forEach((tr) =>
      (tr.hidden = !!needle && !tr.dataset.name.includes(needle)));
  }

  const searchBox = document.querySelector("[data-search]");
  if (searchBox) searchBox.addEventListener("input", filterPricing);

  // -- plugin settings: a form built from the settings' pydantic JSON schema --------------------

  function resolve(prop, defs) {
    let out = { ...prop };
    if (out.$ref) out = { ...defs[out.$ref.split("/").pop()], ...out };
    if (out.allOf && out.allOf.length === 1) out = { ...resolve(out.allOf[0], defs), ...out };
    if (out.anyOf) {
      const real = out.anyOf.filter((v) => v.type !== "null");
      out = { ...resolve(real[0] || {}, defs), ...out, nullable: real.length < out.anyOf.length };
    }
    return out;
  }

  const settingFields = [];

  function settingField(key, prop, value) {
    let input;
    let kind = prop.type;
    if (prop.enum) {
      kind = "enum";
      input = el("select", { name: key });
      if (prop.nullable) input.append(el("option", { value: "" }, ""));
      prop.enum.forEach((v, i) => input.append(el("option", { value: String(i) }, String(v))));
      const at = prop.enum.indexOf(value);
      input.value = at >= 0 ? String(at) : "";
    } else if (kind === "boolean") {
      input = el("input", { name: key, type: "checkbox" });
      input.checked = !!value;
    } else if (kind === "integer" || kind === "number") {
      input = el("input", { name: key, type: "number", step: kind === "integer" ? "1" : "any" });
      if (prop.minimum !== undefined) input.min = prop.minimum;
      if (prop.maximum !== undefined) input.max = prop.maximum;
      input.value = value === null || value === undefined ? "" : String(value);
    } else if (kind === "object" || kind === "array") {
      input = el("textarea", { name: key, rows: 4 });
      input.value = JSON.stringify(value === undefined ? null : value, null, 2);
    } else {
      const secret = prop.format === "password" || prop.writeOnly;
      input = el("input", { name: key, type: secret ? "password" : "text" });
      if (secret) input.autocomplete = "new-password";
      input.value = value === null || value === undefined ? "" : String(value);
    }
    const error = el("small", { class: "error", "data-error": key });
    const help = prop.description ? el("small", { class: "help" }, prop.description) : "";
    const label = kind === "boolean"
      ? el("label", { class: "check" }, input, prop.title || key)
      : el("label", {}, prop.title || key, input);
    settingFields.push({ key, kind, prop, input });
    return el("div", { class: "field" }, label, help, error);
  }

  function settingValue(f) {
    const v = f.input.value;
    if (f.kind === "boolean") return f.input.checked;
    if (f.kind === "enum") return v === "" ? null : f.prop.enum[Number(v)];
    if (f.kind === "integer" || f.kind === "number") return v === "" ? null : Number(v);
    if (f.kind === "object" || f.kind === "array") return JSON.parse(v);
    return v === "" && f.prop.nullable ? null : v;
  }

  async function loadPluginSettings() {
    const form = document.querySelector('form[data-form="plugin-settings"]');
    const box = form.querySelector("[data-fields]");
    const res = await api("GET", "/api/plugins/" + encodeURIComponent(form.dataset.plugin) + "/settings");
    if (!res.success) {
      box.replaceChildren(el("p", {}, res.message || T.plugin_no_settings));
      form.querySelector("button[type=submit]").hidden = true;
      return;
    }
    const schema = res.data.schema || {};
    settingFields.length = 0;
    box.replaceChildren();
    for (const [key, raw] of Object.entries(schema.properties || {})) {
      box.append(settingField(key, resolve(raw, schema.$defs || {}), res.data.settings[key]));
    }
  }

  onSubmit("plugin-settings", async (form) => {
    form.querySelectorAll("[data-error]").forEach((e) => (e.textContent = ""));
    const body = {};
    for (const f of settingFields) {
      try {
        body[f.key] = settingValue(f);
      } catch (e) {
        form.querySelector('[data-error="' + CSS.escape(f.key) + '"]').textContent = e.message;
        return show(T.request_failed);
      }
    }
    const res = await api("PUT", "/api/plugins/" + encodeURIComponent(form.dataset.plugin) + "/settings", body);
    if (!res.success) {
      show(res.message);
      for (const [key, text] of Object.entries((res.data && res.data.errors) || {})) {
        const spot = form.querySelector('[data-error="' + CSS.escape(key.split(".")[0]) + '"]');
        if (spot) spot.textContent = text;
      }
      return;
    }
    show(T.saved, true);
  });

  if (page === "dashboard") loadDashboard();
  if (page === "keys") loadTokens();
  if (page === "plugins") loadPlugins();
  if (page === "logs") loadLogs();
  if (page === "pricing") loadPricing();
  if (page === "plugin-settings") loadPluginSettings();
})();
