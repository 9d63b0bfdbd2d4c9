// Admin: channels. A filtered, paged table (tests, balances, status, copy, delete, tags), the
// create/edit form whose type-specific fields come from the channel type's settings schema, and the
// key list of a multi-key channel.
"use strict";
(function () {
  const { T, api, el, show, usd, emptyRow, onSubmit, pager, schemaForm } = window.NA;
  if (!document.querySelector('[data-list="channels"]')) return;

  const PAGE_SIZE = 20;
  const KEYS_PAGE_SIZE = 1000;
  const JSON_FIELDS = ["model_mapping", "status_code_mapping", "param_override", "header_override"];
  const SETTING_CHECKS = ["system_prompt_override", "force_format", "thinking_to_content", "pass_through_body_enabled"];

  /** `fmt("{n} keys", {n: 3})`: fill `{name}` placeholders of a translated string. */
  const fmt = (template, vars) =>
    String(template).replace(/\{(\w+)\}/g, (m, k) => (vars && k in vars ? String(vars[k]) : m));
  const when = (seconds) => new Date(seconds * 1000).toLocaleString();

  const tbody = document.querySelector('[data-list="channels"]');
  const filterForm = document.querySelector('form[data-form="channel-filter"]');
  const form = document.querySelector('form[data-form="channel"]');
  const settingsBox = form.querySelector("[data-settings-fields]");
  const keysPanel = document.querySelector('[data-panel="keys"]');
  const keysBody = document.querySelector('[data-list="channel-keys"]');
  // The channel form's own inputs by name, taken before any type-specific field is rendered into it.
  const F = {};
  form.querySelectorAll("[name]").forEach((input) => (F[input.name] = input));

  const state = {
    types: new Map(), // id -> channel type from /api/channel/types
    groups: [],
    rows: new Map(), // id -> channel of the current page
    results: new Map(), // id -> {ok, text}: the last test result shown in the row
    editing: null, // the channel being edited; null while creating
    setting: {}, // its `setting` object (unknown keys are kept on save)
    typeSettings: {}, // its type-specific `settings` object
    settingsForm: null,
    keysChannel: null,
  };

  /** Run `work` with `button` disabled; a thrown error becomes the generic failure message. */
  async function busy(button, work) {
    if (button) button.disabled = true;
    try {
      return await work();
    } catch (e) {
      show(T.request_failed);
    } finally {
      if (button) button.disabled = false;
    }
  }

  function parseObject(text) {
    if (text && typeof text === "object") return text;
    try {
      const value = JSON.parse(text || "{}");
      return value && typeof value === "object" && !Array.isArray(value) ? value : {};
    } catch (e) {
      return {};
    }
  }

  const typeName = (id) => (state.types.get(id) || {}).name || fmt(T.ch_type_unknown, { id });
  const splitList = (text) => [...new Set(String(text || "").split(/[,\n]/).map((s) => s.trim()).filter(Boolean))];

  // -- channel types and groups ----------------------------------------------------------------

  async function loadTypes() {
    const res = await api("GET", "/api/channel/types");
    if (!res.success) return show(res.message);
    for (const t of res.data.slice().sort((a, b) => a.id - b.id)) state.types.set(t.id, t);
    const filter = filterForm.elements.type;
    filter.replaceChildren(filter.options[0]);
    for (const t of state.types.values()) {
      filter.append(el("option", { value: String(t.id) }, t.name));
      F.type.append(el("option", { value: String(t.id) }, t.id + " · " + t.name));
    }
  }

  async function loadGroups() {
    const res = await api("GET", "/api/group/");
    state.groups = res.success && Array.isArray(res.data) ? res.data : [];
    const box = form.querySelector("[data-groups]");
    box.replaceChildren(...state.groups.map((g) =>
      el("button", { type: "button", class: "secondary ch-chip", "data-group": g, "aria-pressed": "false" }, g)));
    markGroups();
  }

  function markGroups() {
    const chosen = new Set(splitList(F.group.value));
    form.querySelectorAll("[data-group]").forEach((b) =>
      b.setAttribute("aria-pressed", String(chosen.has(b.dataset.group))));
  }

  function typeCounts(counts) {
    for (const option of filterForm.elements.type.options) {
      if (!option.value) continue;
      const n = counts && counts[option.value];
      option.textContent = typeName(Number(option.value)) + (n ? " (" + n + ")" : "");
    }
  }

  // -- the table -------------------------------------------------------------------------------

  function listUrl(page) {
    const e = filterForm.elements;
    const q = new URLSearchParams({ p: String(page), page_size: String(PAGE_SIZE) });
    if (e.status.value) q.set("status", e.status.value);
    if (e.type.value) q.set("type", e.type.value);
    if (e.tag.value.trim()) q.set("tag", e.tag.value.trim());
    if (e.tag_mode.checked) q.set("tag_mode", "true");
    const keyword = e.keyword.value.trim();
    if (keyword) q.set("keyword", keyword);
    return (keyword ? "/api/channel/search?" : "/api/channel/?") + q;
  }

  function statusBadge(ch) {
    const reason = parseObject(ch.other_info).status_reason;
    const cls = ch.status === 1 ? "badge on" : ch.status === 3 ? "badge warn" : "badge off";
    return el("span", { class: cls, title: ch.status !== 1 && reason ? reason : null },
      T["ch_status_" + ch.status] || T.ch_status_0);
  }

  function responseTime(ch) {
    if (!ch.test_time && !ch.response_time) return el("span", { class: "rt" }, T.ch_not_tested);
    const ms = ch.response_time || 0;
    const cls = ms <= 1000 ? "rt rt-good" : ms <= 3000 ? "rt rt-ok" : ms <= 5000 ? "rt rt-slow" : "rt rt-bad";
    const title = ch.test_time ? fmt(T.ch_tested_at, { time: when(ch.test_time) }) : null;
    return el("span", { class: cls, title }, ms + " ms");
  }

  function multiKey(ch) {
    const info = ch.channel_info || {};
    if (!info.is_multi_key) return "";
    const disabled = Object.values(info.multi_key_status_list || {}).filter((s) => Number(s) !== 1).length;
    const mode = info.multi_key_mode === "polling" ? T.ch_mkm_polling : T.ch_mkm_random;
    return el("span", {},
      el("span", { "data-multi-key": "" }, fmt(T.ch_keys_summary, { size: info.multi_key_size || 0, disabled })),
      el("small", { class: "help" }, " · " + mode), " ",
      el("button", { type: "button", class: "secondary", "data-action": "keys" }, T.ch_manage_keys));
  }

  function channelRow(ch) {
    const multi = !!(ch.channel_info || {}).is_multi_key;
    const result = state.results.get(ch.id);
    const balanceTitle = ch.balance_updated_time ? fmt(T.ch_updated_at, { time: when(ch.balance_updated_time) }) : null;
    return el("tr", { "data-id": ch.id },
      el("td", {}, ch.id),
      el("td", {}, ch.name || "", ch.remark ? el("small", { class: "help ch-remark" }, ch.remark) : ""),
      el("td", {}, typeName(ch.type)),
      el("td", {}, statusBadge(ch)),
      el("td", {}, splitList(ch.group).join(", ")),
      el("td", {}, ch.tag
        ? el("button", { type: "button", class: "link", "data-action": "filter-tag", title: T.ch_filter_tag }, ch.tag)
        : ""),
      el("td", {}, ch.priority),
      el("td", {}, ch.weight),
      el("td", {}, responseTime(ch)),
      el("td", { class: "ch-balance" }, "$" + Number(ch.balance || 0).toFixed(2),
        multi ? "" : el("button", {
          type: "button", class: "secondary", "data-action": "balance", title: balanceTitle || T.ch_refresh_balance,
          "aria-label": T.ch_refresh_balance,
        }, "↻")),
      el("td", {}, usd(ch.used_quota || 0)),
      el("td", {}, multiKey(ch)),
      el("td", { class: "ch-actions" },
        el("button", { type: "button", class: "secondary", "data-action": "test" }, T.ch_test),
        el("button", { type: "button", class: "secondary", "data-action": "toggle" },
          ch.status === 1 ? T.disable : T.enable),
        el("button", { type: "button", class: "secondary", "data-action": "edit" }, T.ch_edit),
        el("button", { type: "button", class: "secondary", "data-action": "copy" }, T.copy),
        el("button", { type: "button", class: "danger", "data-action": "delete" }, T.delete),
        el("span", { class: result ? (result.ok ? "ch-result ok" : "ch-result error") : "ch-result", "data-result": "" },
          result ? result.text : "")));
  }

  function tagRow(tag, count) {
    const cols = tbody.closest("table").querySelectorAll("thead th").length;
    return el("tr", { class: "ch-tag-row", "data-tag": tag },
      el("td", { colspan: cols },
        el("strong", {}, fmt(T.ch_tag_group, { tag, n: count })), " ",
        el("button", { type: "button", class: "secondary", "data-action": "tag-enable" }, T.ch_tag_enable),
        el("button", { type: "button", class: "secondary", "data-action": "tag-disable" }, T.ch_tag_disable)));
  }

  /** Page `page` of the table (in tag mode the API pages over tags): `{ total, pageSize }`, or null. */
  async function loadPage(page) {
    const res = await api("GET", listUrl(page));
    if (!res.success) {
      show(res.message);
      return null;
    }
    const { items, total } = res.data;
    typeCounts(res.data.type_counts);
    state.rows = new Map(items.map((c) => [c.id, c]));
    tbody.replaceChildren();
    if (!items.length) emptyRow(tbody, T.ch_no_channels);
    const tagMode = filterForm.elements.tag_mode.checked;
    let lastTag = null;
    for (const ch of items) {
      if (tagMode && ch.tag !== lastTag) {
        lastTag = ch.tag;
        tbody.append(tagRow(ch.tag, items.filter((c) => c.tag === ch.tag).length));
      }
      tbody.append(channelRow(ch));
    }
    return { total, pageSize: PAGE_SIZE };
  }

  const list = pager(document.querySelector('[data-pager="channels"]'), loadPage);

  // -- row actions ---------------------------------------------------------------------------

  async function testChannel(ch, tr) {
    const spot = tr.querySelector("[data-result]");
    spot.className = "ch-result";
    spot.textContent = T.ch_testing;
    const res = await api("GET", "/api/channel/test/" + ch.id);
    const text = res.success
      ? fmt(T.ch_test_ok, { ms: Math.round((res.time || 0) * 1000) })
      : res.message || T.request_failed;
    state.results.set(ch.id, { ok: !!res.success, text });
    await list.reload();
  }

  async function toggleChannel(ch) {
    const res = await api("POST", "/api/channel/" + ch.id + "/status", { status: ch.status === 1 ? 2 : 1 });
    if (!res.success) return show(res.message);
    show("");
    await list.reload();
  }

  async function deleteChannel(ch) {
    if (!confirm(fmt(T.ch_confirm_delete, { id: ch.id, name: ch.name || "" }))) return;
    const res = await api("DELETE", "/api/channel/" + ch.id);
    if (!res.success) return show(res.message);
    state.results.delete(ch.id);
    if (state.editing && state.editing.id === ch.id) closeForm();
    if (state.keysChannel && state.keysChannel.id === ch.id) closeKeys();
    show(T.ch_deleted, true);
    await list.reload();
  }

  async function copyChannel(ch) {
    const res = await api("POST", "/api/channel/copy/" + ch.id);
    if (!res.success) return show(res.message);
    show(fmt(T.ch_copied, { id: res.data.id }), true);
    await list.reload();
  }

  async function updateBalance(ch) {
    const res = await api("GET", "/api/channel/update_balance/" + ch.id);
    if (!res.success) return show(res.message);
    show(fmt(T.ch_balance_updated, { balance: "$" + Number(res.data.balance).toFixed(2) }), true);
    await list.reload();
  }

  async function editChannel(ch) {
    const res = await api("GET", "/api/channel/" + ch.id);
    if (!res.success) return show(res.message);
    show("");
    openForm(res.data);
  }

  async function tagStatus(tag, enable) {
    const res = await api("POST", "/api/channel/tag/" + (enable ? "enabled" : "disabled"), { tag });
    if (!res.success) return show(res.message);
    show("");
    await list.reload();
  }

  const ROW_ACTIONS = {
    test: testChannel,
    toggle: toggleChannel,
    edit: editChannel,
    copy: copyChannel,
    delete: deleteChannel,
    balance: updateBalance,
    keys: (ch) => openKeys(ch),
    "filter-tag": async (ch) => {
      filterForm.elements.tag.value = ch.tag;
      await list.goto(1);
    },
  };

  tbody.addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-action]");
    if (!button) return;
    const tr = button.closest("tr");
    const action = button.dataset.action;
    if (tr.dataset.tag !== undefined && (action === "tag-enable" || action === "tag-disable")) {
      busy(button, () => tagStatus(tr.dataset.tag, action === "tag-enable"));
      return;
    }
    const ch = state.rows.get(Number(tr.dataset.id));
    if (ch && ROW_ACTIONS[action]) busy(button, () => ROW_ACTIONS[action](ch, tr));
  });

  onSubmit("channel-filter", () => list.goto(1));

  const testAll = filterForm.querySelector('[data-action="test-all"]');
  testAll.addEventListener("click", () => {
    if (!confirm(T.ch_confirm_test_all)) return;
    busy(testAll, async () => {
      show(T.ch_testing, true);
      const res = await api("GET", "/api/channel/test");
      if (!res.success) return show(res.message);
      for (const r of res.data.results || []) {
        state.results.set(r.id, {
          ok: !!r.success,
          text: r.success ? fmt(T.ch_test_ok, { ms: Math.round((r.time || 0) * 1000) }) : r.message || T.request_failed,
        });
      }
      show(fmt(T.ch_test_all_done, res.data), true);
      await list.reload();
    });
  });

  filterForm.querySelector('[data-action="add"]').addEventListener("click", () => {
    show("");
    openForm(null);
  });

  // -- the create / edit form ----------------------------------------------------------------

  function fieldSpot(name) {
    return form.querySelector('[data-field-error="' + CSS.escape(name) + '"]');
  }

  function clearErrors() {
    form.querySelectorAll("[data-field-error]").forEach((s) => (s.textContent = ""));
    if (state.settingsForm) state.settingsForm.clearErrors();
  }

  /**
   * Split the API's message into per-field errors. It reads "field: problem; other: problem";
   * "settings: a: problem; b: problem" for the type's settings and "setting: proxy: problem" for
   * the `setting` object; "models must ..." names its field first.
   */
  function fieldErrors(message) {
    const out = { main: {}, settings: {} };
    let scope = "main";
    let text = String(message || "");
    if (text.startsWith("settings: ")) {
      scope = "settings";
      text = text.slice(10);
    } else if (text.startsWith("setting: ")) {
      scope = "setting";
      text = text.slice(9);
    }
    for (const part of text.split("; ")) {
      let field;
      let problem;
      const m = /^([\w.]+): ([\s\S]*)$/.exec(part);
      if (m) {
        field = m[1];
        problem = m[2].replace(/^Value error, /, "");
      } else if (/^\w+ must /.test(part)) {
        field = part.split(" ")[0];
        problem = part;
      } else if (part.startsWith("channel type ")) {
        field = "type";
        problem = part;
      } else {
        continue;
      }
      if (scope === "settings") out.settings[field] = problem;
      else if (scope === "setting") out.main["setting." + field.split(".")[0]] = problem;
      else out.main[field.split(".")[0]] = problem;
    }
    return out;
  }

  function showServerError(message) {
    show(message || T.request_failed);
    const errors = fieldErrors(message);
    for (const [name, problem] of Object.entries(errors.main)) {
      const spot = fieldSpot(name);
      if (spot) spot.textContent = problem;
    }
    if (state.settingsForm) state.settingsForm.showErrors(errors.settings);
  }

  function describeType() {
    const t = state.types.get(Number(F.type.value));
    F.base_url.placeholder = (t && t.default_base_url) || "";
    form.querySelector("[data-type-help]").textContent = (t && t.description) || "";
    form.querySelector("[data-type-about]").hidden = !(t && t.description);
  }

  /** Render the type's settings schema, filled with `values` (keys the schema lacks are ignored). */
  function renderSettings(values) {
    const t = state.types.get(Number(F.type.value));
    const schema = t && t.settings_schema;
    if (schema && Object.keys(schema.properties || {}).length) {
      state.settingsForm = schemaForm(settingsBox, schema, values);
    } else {
      state.settingsForm = null;
      settingsBox.replaceChildren(el("p", { class: "help" }, T.ch_no_type_settings));
    }
  }

  /** What the type-specific fields hold now ({} when one of them does not parse). */
  function currentSettings() {
    return (state.settingsForm && state.settingsForm.values()) || {};
  }

  function showOnly() {
    const creating = !state.editing;
    const multiEdit = !creating && !!(state.editing.channel_info || {}).is_multi_key;
    const mode = F.mode.value;
    const visible = {
      mode: creating,
      prefix: creating && mode === "batch",
      multi_key_mode: (creating && mode === "multi_to_single") || multiEdit,
      key_mode: multiEdit,
      "key-help-create": creating,
      "key-help-edit": !creating,
    };
    form.querySelectorAll("[data-only]").forEach((node) => (node.hidden = !visible[node.dataset.only]));
  }

  function openForm(ch) {
    state.editing = ch;
    form.reset();
    clearErrors();
    const typeId = ch ? ch.type : state.types.has(1) ? 1 : (state.types.keys().next().value || 1);
    if (![...F.type.options].some((o) => Number(o.value) === typeId)) {
      F.type.append(el("option", { value: String(typeId) }, typeId + " · " + typeName(typeId)));
    }
    F.type.value = String(typeId);
    form.querySelector("[data-form-title]").textContent = ch ? fmt(T.ch_edit_title, { id: ch.id }) : T.ch_create_title;
    const v = ch || {};
    F.id.value = ch ? String(ch.id) : "";
    F.name.value = v.name || "";
    F.key.value = "";
    F.base_url.value = v.base_url || "";
    F.models.value = v.models || "";
    F.group.value = ch ? v.group || "" : "default";
    F.model_mapping.value = v.model_mapping || "";
    F.priority.value = String(v.priority || 0);
    F.weight.value = String(v.weight || 0);
    F.tag.value = v.tag || "";
    F.test_model.value = v.test_model || "";
    F.auto_ban.checked = ch ? !!v.auto_ban : true;
    F.other.value = v.other || "";
    F.openai_organization.value = v.openai_organization || "";
    F.remark.value = v.remark || "";
    for (const name of ["status_code_mapping", "param_override", "header_override"]) F[name].value = v[name] || "";
    F.mode.value = "single";
    F.key_mode.value = "append";
    F.multi_key_mode.value = (v.channel_info || {}).multi_key_mode === "polling" ? "polling" : "random";
    state.setting = parseObject(v.setting);
    F["setting.proxy"].value = state.setting.proxy || "";
    F["setting.system_prompt"].value = state.setting.system_prompt || "";
    for (const name of SETTING_CHECKS) F["setting." + name].checked = !!state.setting[name];
    state.typeSettings = parseObject(v.settings);
    describeType();
    renderSettings(state.typeSettings);
    markGroups();
    showOnly();
    form.hidden = false;
    form.scrollIntoView({ block: "start" });
    F.name.focus();
  }

  function closeForm() {
    state.editing = null;
    form.hidden = true;
    clearErrors();
  }

  /** The channel object as the API takes it, or null (with the fields marked) when it is not valid. */
  function channelBody() {
    clearErrors();
    let bad = false;
    const json = {};
    for (const name of JSON_FIELDS) {
      const text = F[name].value.trim();
      json[name] = text;
      if (!text) continue;
      let value;
      try {
        value = JSON.parse(text);
      } catch (e) {
        value = null;
      }
      if (!value || typeof value !== "object" || Array.isArray(value)) {
        fieldSpot(name).textContent = T.ch_invalid_json;
        bad = true;
      }
    }
    const settings = state.settingsForm ? state.settingsForm.values() : {};
    if (settings === null) bad = true;
    if (bad) {
      show(T.ch_fix_errors);
      return null;
    }
    const setting = { ...state.setting, proxy: F["setting.proxy"].value.trim(), system_prompt: F["setting.system_prompt"].value };
    for (const name of SETTING_CHECKS) setting[name] = F["setting." + name].checked;
    const int = (input) => {
      const n = parseInt(input.value, 10);
      return Number.isFinite(n) ? n : 0;
    };
    return {
      type: Number(F.type.value),
      name: F.name.value.trim(),
      key: F.key.value.trim(),
      base_url: F.base_url.value.trim(),
      models: splitList(F.models.value).join(","),
      group: splitList(F.group.value).join(","),
      model_mapping: json.model_mapping,
      priority: int(F.priority),
      weight: int(F.weight),
      tag: F.tag.value.trim(),
      test_model: F.test_model.value.trim(),
      auto_ban: F.auto_ban.checked ? 1 : 0,
      other: F.other.value.trim(),
      openai_organization: F.openai_organization.value.trim(),
      status_code_mapping: json.status_code_mapping,
      param_override: json.param_override,
      header_override: json.header_override,
      remark: F.remark.value.trim(),
      setting: JSON.stringify(setting),
      settings: state.settingsForm ? JSON.stringify(settings) : "",
    };
  }

  onSubmit("channel", async () => {
    const channel = channelBody();
    if (!channel) return;
    let res;
    if (state.editing) {
      const body = { id: state.editing.id, ...channel };
      if ((state.editing.channel_info || {}).is_multi_key) {
        body.key_mode = F.key_mode.value;
        body.multi_key_mode = F.multi_key_mode.value;
      }
      res = await api("PUT", "/api/channel/", body);
    } else {
      res = await api("POST", "/api/channel/", {
        mode: F.mode.value,
        multi_key_mode: F.multi_key_mode.value,
        batch_add_set_key_prefix_2_name: F.batch_add_set_key_prefix_2_name.checked,
        channel,
      });
    }
    if (!res.success) return showServerError(res.message);
    show(state.editing ? T.ch_saved : fmt(T.ch_created, { n: ((res.data || {}).ids || [0]).length }), true);
    closeForm();
    await list.reload();
  });

  F.type.addEventListener("change", () => {
    const carried = { ...state.typeSettings, ...currentSettings() };
    describeType();
    renderSettings(carried);
  });
  F.mode.addEventListener("change", showOnly);
  F.group.addEventListener("input", markGroups);

  form.addEventListener("click", (ev) => {
    const chip = ev.target.closest("button[data-group]");
    if (chip) {
      const groups = splitList(F.group.value);
      const at = groups.indexOf(chip.dataset.group);
      if (at >= 0) groups.splice(at, 1);
      else groups.push(chip.dataset.group);
      F.group.value = groups.join(",");
      markGroups();
      return;
    }
    const button = ev.target.closest("button[data-action]");
    if (!button) return;
    if (button.dataset.action === "cancel") {
      show("");
      closeForm();
    } else if (button.dataset.action === "fill-models") {
      const t = state.types.get(Number(F.type.value));
      F.models.value = splitList(F.models.value).concat((t && t.default_models) || [])
        .filter((m, i, all) => all.indexOf(m) === i).join(",");
    } else if (button.dataset.action === "fetch-models") {
      busy(button, fetchModels);
    }
  });

  async function fetchModels() {
    const key = F.key.value.trim();
    const body = state.editing && !key
      ? { channel_id: state.editing.id }
      : { type: Number(F.type.value), base_url: F.base_url.value.trim(), key };
    const res = await api("POST", "/api/channel/fetch_models", body);
    if (!res.success) return showServerError(res.message);
    F.models.value = res.data.join(",");
    show(fmt(T.ch_models_fetched, { n: res.data.length }), true);
  }

  // -- multi-key channels: the key list --------------------------------------------------------

  async function manageKeys(body) {
    return api("POST", "/api/channel/multi_key/manage", { channel_id: state.keysChannel.id, ...body });
  }

  async function openKeys(ch) {
    state.keysChannel = ch;
    keysPanel.querySelector("[data-keys-title]").textContent = fmt(T.ch_keys_title, { id: ch.id, name: ch.name || "" });
    keysPanel.hidden = false;
    await loadKeys();
    keysPanel.scrollIntoView({ block: "start" });
  }

  function closeKeys() {
    state.keysChannel = null;
    keysPanel.hidden = true;
  }

  async function loadKeys() {
    const res = await manageKeys({ action: "get_key_status", page: 1, page_size: KEYS_PAGE_SIZE });
    if (!res.success) return show(res.message);
    const d = res.data;
    keysPanel.querySelector("[data-keys-counts]").textContent = fmt(T.ch_keys_counts, {
      enabled: d.enabled_count, manual: d.manual_disabled_count, auto: d.auto_disabled_count,
    });
    const more = keysPanel.querySelector("[data-keys-more]");
    more.hidden = d.total <= d.keys.length;
    more.textContent = fmt(T.ch_keys_more, { shown: d.keys.length, total: d.total });
    keysBody.replaceChildren();
    for (const k of d.keys) {
      const on = k.status === 1;
      keysBody.append(el("tr", { "data-index": k.index, "data-status": k.status },
        el("td", {}, k.index),
        el("td", {}, el("code", {}, k.key_preview)),
        el("td", {}, el("span", { class: on ? "badge on" : k.status === 3 ? "badge warn" : "badge off" },
          T["ch_status_" + k.status] || T.ch_status_0)),
        el("td", {}, k.reason || ""),
        el("td", {}, k.disabled_time ? when(k.disabled_time) : ""),
        el("td", {},
          el("button", { type: "button", class: "secondary", "data-action": "key-toggle" }, on ? T.disable : T.enable),
          el("button", { type: "button", class: "danger", "data-action": "key-delete" }, T.delete))));
    }
  }

  async function keyAction(body) {
    const res = await manageKeys(body);
    if (!res.success) return show(res.message);
    show(res.message || "", !!res.message);
    await Promise.all([loadKeys(), list.reload()]);
  }

  keysBody.addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-action]");
    if (!button || !state.keysChannel) return;
    const index = Number(button.closest("tr").dataset.index);
    if (button.dataset.action === "key-delete") {
      if (!confirm(fmt(T.ch_confirm_delete_key, { index }))) return;
      busy(button, () => keyAction({ action: "delete_key", key_index: index }));
    } else if (button.dataset.action === "key-toggle") {
      const enable = button.closest("tr").dataset.status !== "1";
      busy(button, () => keyAction({ action: enable ? "enable_key" : "disable_key", key_index: index }));
    }
  });

  const PANEL_ACTIONS = {
    "keys-enable-all": "enable_all_keys",
    "keys-disable-all": "disable_all_keys",
    "keys-delete-auto": "delete_disabled_keys",
  };
  keysPanel.querySelectorAll("p button[data-action]").forEach((button) =>
    button.addEventListener("click", () => {
      if (button.dataset.action === "keys-close") return closeKeys();
      if (!state.keysChannel) return;
      busy(button, () => keyAction({ action: PANEL_ACTIONS[button.dataset.action] }));
    }));

  // -- start -------------------------------------------------------------------------------------

  (async () => {
    await Promise.all([loadTypes(), loadGroups()]);
    await list.reload();
  })().catch(() => show(T.request_failed));
})();
