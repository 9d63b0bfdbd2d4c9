// New API console, shared by every page: the API client, DOM helpers, messages, sign-out, a list
// pager and a form generated from a JSON schema. Each page's own script reads these from `window.NA`.
"use strict";
(function () {
  const T = JSON.parse(document.getElementById("i18n").textContent);
  const USER_KEY = "newapi_user_id";
  const page = document.body.dataset.page;
  const perUnit = parseFloat(document.body.dataset.quotaPerUnit) || 500000;
  const role = parseInt(document.body.dataset.role, 10) || 0; // 1 common, 10 admin, 100 root
  const msgBox = document.querySelector(".msg");
  // The page knows who is signed in (a password or a redirect sign-in): keep New-Api-User in step.
  if (document.body.dataset.userId) localStorage.setItem(USER_KEY, document.body.dataset.userId);

  /** Show `text` in the page's message bar (red, or green when `ok`); empty text hides it. */
  function show(text, ok) {
    if (!msgBox) return;
    msgBox.textContent = text || "";
    msgBox.classList.toggle("ok", !!ok);
    msgBox.hidden = !text;
  }

  function authHeaders() {
    const headers = {};
    const uid = localStorage.getItem(USER_KEY);
    if (uid) headers["New-Api-User"] = uid;
    return headers;
  }

  let pending = 0; // requests in flight: `NA.busy()` lets tests wait for a page to settle

  /** Call an `/api` route with the session cookie; always resolves to New API's envelope. */
  async function api(method, url, body) {
    pending++;
    try {
      return await request(method, url, body);
    } finally {
      pending--;
    }
  }

  async function request(method, url, body) {
    const headers = { Accept: "application/json", ...authHeaders() };
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

  /** `el("td", {class: "x", onclick: fn}, child, "text")`: attributes, listeners and children. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  /** Quota as dollars: two decimals, or six for a small non-zero amount (a single cheap call). */
  function usd(quota, digits) {
    const value = quota / perUnit;
    if (digits === undefined) digits = value !== 0 && Math.abs(value) < 0.01 ? 6 : 2;
    return "$" + value.toFixed(digits);
  }
  const formData = (form) => Object.fromEntries(new FormData(form).entries());

  /** Run `handler(form)` on submit, with the submit button disabled meanwhile. */
  function onSubmit(name, handler) {
    const form = document.querySelector('form[data-form="' + name + '"]');
    if (!form) return;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      show("");
      try {
        await handler(form);
      } catch (e) {
        show(T.request_failed);
      } finally {
        if (button) button.disabled = false;
      }
    });
  }

  /** Put `text` on the clipboard (falls back to a selection copy on plain-HTTP sites). */
  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      const area = el("textarea", {}, text);
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
  }

  /** Fill `tbody` with one "nothing here" row spanning the table. */
  function emptyRow(tbody, text) {
    const cols = tbody.closest("table").querySelectorAll("thead th").length || 1;
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: cols }, text)));
  }

  /**
   * Paging for a list. `box` is the `<p class="pager">` from layout.pager(); `load(page)` fetches and
   * renders page `page` and resolves to `{ total, pageSize }`, or to null/false when it failed
   * (having said why). Returns `{ page, pages, total, goto(n), reload() }`; `goto`/`reload` resolve
   * to true once the page loaded. Loads run one at a time with prev/next disabled meanwhile; a failed
   * load keeps the page shown before; past the last page (the total shrank) the last page is loaded
   * instead. A pager rendered `hidden` shows itself only when there is a second page; a
   * `[data-total]` in it shows "(total)".
   */
  function pager(box, load) {
    const prev = box.querySelector('[data-page="prev"]');
    const next = box.querySelector('[data-page="next"]');
    const info = box.querySelector("[data-page-info]");
    const count = box.querySelector("[data-total]");
    const autoHide = box.hidden;
    const state = { page: 1, pages: 1, total: 0, loaded: false };
    let running = 0;
    let queue = Promise.resolve();

    function render() {
      if (state.loaded) info.textContent = state.page + " / " + state.pages;
      if (count && state.loaded) count.textContent = "(" + state.total + ")";
      if (autoHide) box.hidden = state.pages <= 1;
      prev.disabled = running > 0 || state.page <= 1;
      next.disabled = running > 0 || state.page >= state.pages;
    }

    async function attempt(page) {
      try {
        const result = await load(page);
        if (!result) return null;
        const total = Math.max(0, Number(result.total) || 0);
        return { total, pages: Math.max(1, Math.ceil(total / result.pageSize)) };
      } catch (e) {
        show(T.request_failed);
        return null;
      }
    }

    async function run(target) {
      let page = Math.max(1, Math.floor(target()) || 1);
      let result = await attempt(page);
      for (let tries = 0; result && page > result.pages && tries < 3; tries++) {
        page = result.pages; // the last rows went away meanwhile: show the new last page
        result = await attempt(page);
      }
      if (!result) return false;
      Object.assign(state, { page, pages: Math.max(result.pages, page), total: result.total, loaded: true });
      return true;
    }

    /** Queue a load of page `target()` (read when its turn comes). */
    function enqueue(target) {
      running++;
      render();
      const job = queue.then(() => run(target)).finally(() => {
        running--;
        render();
      });
      queue = job.catch(() => {});
      return job;
    }

    prev.addEventListener("click", () => enqueue(() => state.page - 1));
    next.addEventListener("click", () => enqueue(() => state.page + 1));
    render();
    return {
      get page() { return state.page; },
      get pages() { return state.pages; },
      get total() { return state.total; },
      goto: (n) => enqueue(() => n),
      reload: () => enqueue(() => state.page),
    };
  }

  // -- a form generated from a pydantic JSON schema (plugin settings, channel type settings) -----

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

  function schemaField(key, prop, value) {
    let input;
    let kind = prop.type;
    if (value === undefined) value = prop.default;
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
    return { key, kind, prop, input, node: el("div", { class: "field" }, label, help, error) };
  }

  function schemaValue(f) {
    const v = f.input.value;
    if (f.kind === "boolean") return f.input.checked;
    if (f.kind === "enum") return v === "" ? null : f.prop.enum[Number(v)];
    if (f.kind === "integer" || f.kind === "number") return v === "" ? null : Number(v);
    if (f.kind === "object" || f.kind === "array") return JSON.parse(v);
    return v === "" && f.prop.nullable ? null : v;
  }

  /**
   * Render `schema`'s properties into `box` with `values` filled in. Returns
   * `{ values(), showErrors(errors), clearErrors() }`: `values()` returns null (and marks the field)
   * when a JSON field does not parse; `showErrors` takes `{"field.sub": "message"}` from the API.
   */
  function schemaForm(box, schema, values) {
    const fields = [];
    box.replaceChildren();
    for (const [key, raw] of Object.entries((schema && schema.properties) || {})) {
      const f = schemaField(key, resolve(raw, schema.$defs || {}), (values || {})[key]);
      fields.push(f);
      box.append(f.node);
    }
    const spot = (key) => box.querySelector('[data-error="' + CSS.escape(key.split(".")[0]) + '"]');
    const form = {
      fields,
      clearErrors() {
        box.querySelectorAll("[data-error]").forEach((e) => (e.textContent = ""));
      },
      showErrors(errors) {
        let shown = 0;
        for (const [key, text] of Object.entries(errors || {})) {
          const s = spot(key);
          if (s) {
            s.textContent = text;
            shown++;
          }
        }
        return shown;
      },
      values() {
        form.clearErrors();
        const out = {};
        for (const f of fields) {
          try {
            out[f.key] = schemaValue(f);
          } catch (e) {
            spot(f.key).textContent = e.message;
            return null;
          }
        }
        return out;
      },
    };
    return form;
  }

  document.querySelectorAll("[data-logout]").forEach((a) =>
    a.addEventListener("click", async (ev) => {
      ev.preventDefault();
      await api("GET", "/api/user/logout");
      localStorage.removeItem(USER_KEY);
      location.href = "/login";
    })
  );

  /**
   * A WebAuthn ceremony: `begin` answers `data.options` (JSON, as the server's webauthn library
   * writes it); the browser's credential goes to `finish` as JSON. Needs a browser with
   * PublicKeyCredential.parse*OptionsFromJSON (current Chromium, Firefox, Safari).
   */
  async function passkey(kind, begin, finish) {
    const started = await api("POST", begin);
    if (!started.success) return started;
    const options = started.data.options;
    const credential = kind === "create"
      ? await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
      : await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
    return api("POST", finish, credential.toJSON());
  }

  window.NA = {
    T, page, perUnit, role, USER_KEY, show, api, authHeaders, busy: () => pending > 0, el, usd, formData, onSubmit, copyText, emptyRow, pager, schemaForm, passkey,
  };
})();
