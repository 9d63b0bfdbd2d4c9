// Root: runtime settings. Each section form saves only the options that changed, one
// PUT /api/option/ {key, value} per key (values as New API's strings); errors go under their field.
"use strict";
(function () {
  const { T, api, el, show, onSubmit } = window.NA;
  const forms = [...document.querySelectorAll('form[data-form^="settings-"]')];
  if (!forms.length) return; // an admin who is not root: the page only explains

  let stored = {}; // option key -> value as the server holds it (missing: never set)
  let perUnit = 500000; // QuotaPerUnit when the options were loaded: USD fields convert with it

  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
  const inputsOf = (root) => [...root.querySelectorAll("[data-kind]")];
  const errorOf = (key) => document.querySelector('[data-error="' + CSS.escape(key) + '"]');
  const isJson = (input) => ["ratio", "nested", "strings"].includes(input.dataset.kind);

  function setError(input, text) {
    const box = errorOf(input.name);
    if (box) box.textContent = text || "";
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function pretty(text) {
    if (!text || !text.trim()) return "";
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch (e) {
      return text; // shown as stored, so the admin can repair it
    }
  }

  function trimNumber(n) {
    return String(Number(n.toFixed(6)));
  }

  /** Show the stored value of `input`'s option; remember what was shown to detect edits. */
  function fill(input) {
    const key = input.name;
    const value = stored[key];
    const kind = input.dataset.kind;
    if (kind === "bool") {
      input.checked = value === "true";
      input.dataset.shown = String(input.checked);
      return;
    }
    let shown = value === undefined ? "" : value;
    if (kind === "usd") shown = value === undefined || value === "" ? "" : trimNumber(Number(value) / perUnit);
    else if (isJson(input)) shown = pretty(value);
    input.value = shown;
    input.dataset.shown = shown;
  }

  function edited(input) {
    if (input.dataset.kind === "bool") return String(input.checked) !== input.dataset.shown;
    return input.value !== input.dataset.shown;
  }

  // -- checks, mirroring the server's (PUT /api/option/ checks again and has the last word) ----

  function checkNumber(input, n) {
    const d = input.dataset;
    if (input.value.trim() === "" || !Number.isFinite(n)) return T.set_err_number;
    if (d.kind === "int" && !Number.isInteger(n)) return T.set_err_integer;
    if (d.min !== undefined && n < Number(d.min)) return fmt(T.set_err_min, { n: d.min });
    if (d.above !== undefined && n <= Number(d.above)) return fmt(T.set_err_above, { n: d.above });
    if (d.max !== undefined && n > Number(d.max)) return fmt(T.set_err_max, { n: d.max });
    return "";
  }

  function checkTable(table, kind) {
    const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
    const ratios = (t) => {
      for (const [name, v] of Object.entries(t)) {
        if (typeof v !== "number" || !Number.isFinite(v)) return fmt(T.set_err_value, { name });
        if (v < 0) return fmt(T.set_err_negative, { name });
      }
      return "";
    };
    if (kind === "ratio") return isObject(table) ? ratios(table) : T.set_err_ratio;
    if (kind === "nested") {
      if (!isObject(table)) return T.set_err_nested;
      for (const row of Object.values(table)) {
        if (!isObject(row)) return T.set_err_nested;
        const bad = ratios(row);
        if (bad) return bad;
      }
      return "";
    }
    const texts = isObject(table) && Object.values(table).every((v) => typeof v === "string");
    return texts ? "" : T.set_err_strings;
  }

  function safeLogo(url) {
    return /^(\/|https:\/\/|data:image\/)/.test(url) && !url.startsWith("//");
  }

  /** A JSON text in one canonical compact form (the text itself when it does not parse). */
  function canonical(text) {
    if (!text || !text.trim()) return "";
    try {
      return JSON.stringify(JSON.parse(text));
    } catch (e) {
      return text;
    }
  }

  /** The string to store for an edited input, or `{error}`. */
  function valueOf(input) {
    const kind = input.dataset.kind;
    const raw = input.value;
    if (kind === "bool") return input.checked ? "true" : "false";
    if (kind === "int" || kind === "number" || kind === "usd") {
      const bad = checkNumber(input, Number(raw));
      if (bad) return { error: bad };
      return kind === "usd" ? String(Math.round(Number(raw) * perUnit)) : raw.trim();
    }
    if (isJson(input)) {
      if (!raw.trim()) return "";
      let table;
      try {
        table = JSON.parse(raw);
      } catch (e) {
        return { error: fmt(T.set_err_json, { error: e.message }) };
      }
      const bad = checkTable(table, kind);
      return bad ? { error: bad } : JSON.stringify(table);
    }
    if (input.hasAttribute("data-logo") && raw.trim() && !safeLogo(raw.trim())) return { error: T.set_err_logo };
    return kind === "text" || kind === "codes" ? raw.trim() : raw;
  }

  /** `{value}`: the string to store (null: nothing to save), or `{error}`. */
  function read(input) {
    if (!edited(input)) return { value: null };
    const value = valueOf(input);
    if (typeof value !== "string") return value;
    const kind = input.dataset.kind;
    const before = stored[input.name];
    let same = value === (before === undefined ? (kind === "bool" ? "false" : "") : before);
    if (["int", "number", "usd"].includes(kind) && before !== undefined && before !== "") {
      same = Number(value) === Number(before);
    }
    if (isJson(input)) same = value === canonical(before);
    return { value: same ? null : value };
  }

  // -- the top bar follows a new system name or logo without a reload ---------------------------

  function refreshFrame() {
    const name = stored.SystemName || "New API";
    const heading = document.querySelector("main h1");
    document.title = (heading ? heading.textContent + " · " : "") + name;
    const brand = document.querySelector(".topbar .brand");
    if (!brand) return;
    const logo = stored.Logo || "";
    brand.replaceChildren(...(safeLogo(logo) ? [el("img", { class: "logo", src: logo, alt: "" })] : []), name);
  }

  /** Fetch every option into `stored`; "" when done, else the error message. */
  async function loadOptions() {
    const res = await api("GET", "/api/option/");
    if (!res.success) return res.message || T.request_failed;
    stored = {};
    for (const item of res.data || []) stored[item.key] = item.value;
    return "";
  }

  async function start() {
    forms.forEach((f) => f.querySelectorAll("fieldset, button").forEach((x) => (x.disabled = true)));
    const failed = await loadOptions();
    if (failed) return show(failed);
    perUnit = Number(stored.QuotaPerUnit) || 500000;
    forms.forEach((f) => {
      inputsOf(f).forEach(fill);
      f.querySelectorAll("fieldset, button").forEach((x) => (x.disabled = false));
    });
  }

  /** The outcome in the page's message bar and beside the section's Save button (in view). */
  function tell(form, text, ok) {
    show(text, ok);
    const status = form.querySelector("[data-status]");
    status.textContent = text;
    status.classList.toggle("ok", !!ok);
  }

  async function save(form) {
    form.querySelector("[data-status]").textContent = "";
    const changes = [];
    let invalid = 0;
    for (const input of inputsOf(form)) {
      setError(input, "");
      const r = read(input);
      if (r.error) {
        setError(input, r.error);
        invalid++;
      } else if (r.value !== null) {
        changes.push([input, r.value]);
      }
    }
    if (invalid) return tell(form, T.set_invalid);
    if (!changes.length) {
      inputsOf(form).forEach(fill); // drops edits that change nothing (e.g. JSON whitespace)
      return tell(form, T.set_no_changes, true);
    }
    const fieldsets = [...form.querySelectorAll("fieldset")];
    fieldsets.forEach((x) => (x.disabled = true));
    const saved = [];
    try {
      for (const [input, value] of changes) {
        const res = await api("PUT", "/api/option/", { key: input.name, value });
        if (res.success) saved.push(input);
        else setError(input, res.message || T.request_failed);
      }
    } finally {
      fieldsets.forEach((x) => (x.disabled = false));
    }
    if (saved.length) {
      // The server may store a canonical form (e.g. "401, 500-503" as "401,500-503"): show that.
      const failed = await loadOptions();
      if (failed) return tell(form, failed);
      saved.forEach(fill);
      refreshFrame();
      if (saved.some((input) => input.name === "QuotaPerUnit")) {
        perUnit = Number(stored.QuotaPerUnit) || perUnit;
        inputsOf(document).filter((i) => i.dataset.kind === "usd" && !edited(i)).forEach(fill);
      }
    }
    if (saved.length < changes.length) tell(form, T.set_partial);
    else tell(form, T.saved, true);
  }

  forms.forEach((f) => onSubmit(f.dataset.form, save));
  start();
})();
