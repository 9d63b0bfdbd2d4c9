// API keys: list (paged), create and edit (quota, expiry, unlimited, model whitelist, IP allow-list,
// group), enable/disable, delete, copy the full key.
"use strict";
(function () {
  const { T, api, el, show, usd, perUnit, onSubmit, copyText, emptyRow, pager } = window.NA;

  const PAGE_SIZE = 50;
  const EXPIRY = { "1h": 3600, "1d": 86400, "1m": 30 * 86400 }; // New API's "one month" is 30 days
  const form = document.querySelector('form[data-form="token"]');
  const E = form.elements;
  const submitButton = form.querySelector("button[type=submit]");
  const cancelButton = form.querySelector('[data-action="cancel-edit"]');
  const modelBox = form.querySelector("[data-models]");
  let editing = null; // the token being edited, with the form texts it was shown as

  const pad = (n) => String(n).padStart(2, "0");
  const now = () => Date.now() / 1000;

  /** USD with at least 2 and up to 6 decimals, so small amounts do not show as $0.00. */
  function money(quota) {
    return usd(quota, 6).replace(/(\.\d\d\d*?)0+$/, "$1");
  }

  /** A unix time as a datetime-local value (local time, minutes). */
  function inputValue(ts) {
    const d = new Date(ts * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  const quotaText = (quota) => String(+(quota / perUnit).toFixed(6));
  const splitModels = (value) => [...new Set(value.split(",").map((m) => m.trim()).filter(Boolean))];

  /** New API's token status: 1 enabled, 2 disabled, 3 expired, 4 exhausted (also when only the data says so). */
  function statusOf(tok) {
    if (tok.status === 2) return { text: T.disabled, cls: "badge" };
    if (tok.status === 3 || (tok.expired_time !== -1 && tok.expired_time <= now())) {
      return { text: T.keys_status_expired, cls: "badge warn" };
    }
    if (tok.status === 4 || (!tok.unlimited_quota && tok.remain_quota <= 0)) {
      return { text: T.keys_status_exhausted, cls: "badge warn" };
    }
    return tok.status === 1 ? { text: T.enabled, cls: "badge on" } : { text: T.disabled, cls: "badge" };
  }

  /** Run `fn` with `button` disabled; errors end up in the message bar. */
  async function busy(button, fn) {
    button.disabled = true;
    try {
      await fn();
    } catch (e) {
      show(T.request_failed);
    } finally {
      button.disabled = false;
    }
  }

  // -- the list -----------------------------------------------------------------------------------

  /** Page `page` of the keys; the pager (hidden while there is one page) takes `{ total, pageSize }`. */
  async function loadPage(page) {
    const tbody = document.querySelector('[data-list="tokens"]');
    const res = await api("GET", "/api/token/?p=" + page + "&page_size=" + PAGE_SIZE);
    if (!res.success) {
      show(res.message);
      return null;
    }
    const { items, total } = res.data;
    if (!items.length) emptyRow(tbody, T.no_keys);
    else tbody.replaceChildren(...items.map(row));
    return { total, pageSize: PAGE_SIZE };
  }

  const tokens = pager(document.querySelector('[data-pager="tokens"]'), loadPage);

  function row(tok) {
    const on = tok.status === 1;
    const state = statusOf(tok);
    const button = (action, label, cls, handler) => {
      const b = el("button", { type: "button", class: cls, "data-action": action }, label);
      b.addEventListener("click", () => busy(b, () => handler(b)));
      return b;
    };
    return el("tr", { "data-id": tok.id },
      el("td", {}, tok.name),
      el("td", {}, el("code", {}, tok.key)),
      el("td", {}, el("span", { class: state.cls }, state.text)),
      el("td", {}, money(tok.used_quota)),
      el("td", {}, tok.unlimited_quota ? T.unlimited : money(tok.remain_quota)),
      el("td", {}, tok.expired_time === -1 ? T.keys_never : new Date(tok.expired_time * 1000).toLocaleString()),
      el("td", {}, tok.group || T.keys_group_own),
      el("td", { class: "row-actions" },
        button("edit", T.keys_edit, "secondary", () => startEdit(tok.id)),
        button("copy", T.copy, "secondary", (b) => copyKey(tok, b)),
        button("toggle", on ? T.disable : T.enable, "secondary", () => setStatus(tok.id, on ? 2 : 1)),
        button("delete", T.delete, "danger", () => remove(tok.id))));
  }

  async function setStatus(id, status) {
    const r = await api("PUT", "/api/token/?status_only=true", { id, status });
    if (!r.success) return show(r.message);
    show("");
    await tokens.reload();
  }

  async function remove(id) {
    if (!confirm(T.confirm_delete)) return;
    const r = await api("DELETE", "/api/token/" + id);
    if (!r.success) return show(r.message);
    if (editing && editing.id === id) fill(null);
    show(T.keys_deleted, true);
    await tokens.reload();
  }

  /** Lists show the key masked; the full one comes from POST /api/token/{id}/key (without "sk-"). */
  async function copyKey(tok, button) {
    let key = tok.key;
    if (!key || key.includes("*")) {
      const r = await api("POST", "/api/token/" + tok.id + "/key");
      if (!r.success) return show(r.message);
      key = r.data.key;
    }
    await copyText(key.startsWith("sk-") ? key : "sk-" + key);
    show("");
    button.textContent = T.copied;
    setTimeout(() => (button.textContent = T.copy), 1500);
  }

  // -- the form: create, or edit one key ----------------------------------------------------------

  function clearErrors() {
    form.querySelectorAll("[data-error]").forEach((s) => (s.textContent = ""));
  }

  /** The API's message in the bar, and each "field: problem" part next to its field. */
  function showErrors(message) {
    show(message);
    for (const part of String(message || "").split("; ")) {
      const name = (/^([a-z_]+)\b/.exec(part) || [])[1];
      const spot = name && form.querySelector('[data-error="' + name + '"]');
      if (spot) spot.textContent = part;
    }
  }

  function ensureGroupOption(group) {
    const known = [...E.group.options].some((o) => o.value === group);
    if (group && !known) E.group.append(el("option", { value: group }, group)); // no longer offered: keep it
  }

  function syncCrossGroup() {
    form.querySelector("[data-cross-group]").hidden = E.group.value !== "auto";
  }

  function syncQuota() {
    E.remain_quota.disabled = E.unlimited_quota.checked;
  }

  function syncModelPicks() {
    const chosen = new Set(splitModels(E.model_limits.value));
    modelBox.querySelectorAll("input[data-model-pick]").forEach((c) => (c.checked = chosen.has(c.value)));
  }

  /** Show the form for `tok` (edit mode) or empty (create mode). */
  function fill(tok) {
    form.reset();
    clearErrors();
    editing = null;
    if (tok) {
      ensureGroupOption(tok.group);
      E.id.value = String(tok.id);
      E.name.value = tok.name;
      E.unlimited_quota.checked = tok.unlimited_quota;
      E.remain_quota.value = quotaText(tok.remain_quota);
      E.expired_time.value = tok.expired_time === -1 ? "" : inputValue(tok.expired_time);
      E.group.value = tok.group || "";
      E.cross_group_retry.checked = tok.cross_group_retry;
      E.model_limits_enabled.checked = tok.model_limits_enabled;
      E.model_limits.value = tok.model_limits;
      E.allow_ips.value = tok.allow_ips;
      editing = { ...tok, quotaText: E.remain_quota.value, expiryText: E.expired_time.value };
    } else {
      E.id.value = "";
    }
    form.dataset.mode = tok ? "edit" : "create";
    form.querySelector("[data-title-create]").hidden = !!tok;
    form.querySelector("[data-title-edit]").hidden = !tok;
    submitButton.textContent = tok ? T.save : T.create_key;
    cancelButton.hidden = !tok;
    syncQuota();
    syncCrossGroup();
    syncModelPicks();
  }

  async function startEdit(id) {
    const r = await api("GET", "/api/token/" + id);
    if (!r.success) return show(r.message);
    show("");
    fill(r.data);
    form.scrollIntoView({ behavior: "smooth", block: "start" });
    E.name.focus();
  }

  /** The JSON body New API takes for POST / PUT /api/token/ (PUT adds `id`). */
  function body() {
    const quota = E.remain_quota.value.trim();
    let remain = Math.round(parseFloat(quota || "0") * perUnit);
    if (editing && quota === editing.quotaText) remain = editing.remain_quota; // unchanged: keep exact
    let expired = -1;
    if (E.expired_time.value) expired = Math.floor(new Date(E.expired_time.value).getTime() / 1000);
    if (editing && E.expired_time.value === editing.expiryText) expired = editing.expired_time;
    const group = E.group.value;
    return {
      name: E.name.value.trim(),
      remain_quota: remain,
      expired_time: expired,
      unlimited_quota: E.unlimited_quota.checked,
      model_limits_enabled: E.model_limits_enabled.checked,
      model_limits: splitModels(E.model_limits.value).join(","),
      allow_ips: E.allow_ips.value.split("\n").map((s) => s.trim()).filter(Boolean).join("\n"),
      group,
      cross_group_retry: group === "auto" && E.cross_group_retry.checked,
    };
  }

  onSubmit("token", async () => {
    clearErrors();
    const data = body();
    if (isNaN(data.remain_quota) || isNaN(data.expired_time)) return showErrors(T.request_failed);
    if (editing) {
      const res = await api("PUT", "/api/token/", { id: editing.id, ...data });
      if (!res.success) return showErrors(res.message);
      fill(null);
      show(T.keys_updated, true);
      await tokens.reload();
    } else {
      const res = await api("POST", "/api/token/", data);
      if (!res.success) return showErrors(res.message);
      const box = document.querySelector(".newkey");
      box.querySelector("[data-newkey]").textContent = res.data.key;
      box.hidden = false;
      fill(null);
      await tokens.goto(1);
    }
  });

  cancelButton.addEventListener("click", () => {
    fill(null);
    show("");
  });
  E.unlimited_quota.addEventListener("change", syncQuota);
  E.group.addEventListener("change", syncCrossGroup);
  E.model_limits.addEventListener("input", syncModelPicks);
  form.querySelectorAll("[data-expiry]").forEach((b) =>
    b.addEventListener("click", () => {
      const span = EXPIRY[b.dataset.expiry];
      E.expired_time.value = span ? inputValue(now() + span) : "";
    })
  );

  const copyButton = document.querySelector("[data-copy]");
  copyButton.addEventListener("click", async () => {
    await copyText(document.querySelector("[data-newkey]").textContent);
    copyButton.textContent = T.copied;
    setTimeout(() => (copyButton.textContent = T.copy), 1500);
  });

  // -- choices: the groups and models this user may put on a key ---------------------------------

  async function loadGroups() {
    const res = await api("GET", "/api/user/self/groups");
    if (!res.success) return show(res.message);
    const chosen = E.group.value;
    for (const [name, info] of Object.entries(res.data || {})) {
      if ([...E.group.options].some((o) => o.value === name)) continue;
      const ratio = info.ratio === "auto" ? "" : " (×" + info.ratio + ")";
      E.group.append(el("option", { value: name }, name + (info.desc ? " — " + info.desc : "") + ratio));
    }
    E.group.value = chosen;
  }

  async function loadModels() {
    const res = await api("GET", "/api/user/models");
    if (!res.success) return show(res.message);
    const models = res.data || [];
    if (!models.length) return modelBox.replaceChildren(el("small", { class: "help" }, T.no_models));
    modelBox.replaceChildren(...models.map((m) => {
      const box = el("input", { type: "checkbox", value: m, "data-model-pick": true });
      box.addEventListener("change", () => {
        const list = splitModels(E.model_limits.value).filter((x) => x !== m);
        if (box.checked) list.push(m);
        E.model_limits.value = list.join(",");
        if (box.checked) E.model_limits_enabled.checked = true;
      });
      return el("label", { class: "check" }, box, m);
    }));
    syncModelPicks();
  }

  fill(null);
  tokens.reload();
  loadGroups();
  loadModels();
})();
