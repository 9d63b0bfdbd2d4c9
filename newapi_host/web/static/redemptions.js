// Admin: redemption codes: list with search and paging, batch create (copy all / download the new
// codes), edit, enable/disable, delete, delete invalid codes, CSV export.
"use strict";
(function () {
  const { T, api, el, show, usd, perUnit, onSubmit, copyText, emptyRow, pager } = window.NA;
  const PAGE_SIZE = 20;
  const EXPORT_PAGE_SIZE = 100; // the API's largest page
  const ENABLED = 1;
  const DISABLED = 2;
  const USED = 3;
  let filters = new URLSearchParams();
  let editing = null; // the code being edited (from GET /api/redemption/{id})

  const $ = (selector) => document.querySelector(selector);
  const tbody = $('[data-list="redemptions"]');
  const editBox = $('[data-edit="redemption"]');
  const editForm = $('form[data-form="redemption-edit"]');
  const newBox = $("[data-newcodes]");

  const now = () => Math.floor(Date.now() / 1000);
  const when = (ts) => (ts ? new Date(ts * 1000).toLocaleString() : "");
  const usdValue = (quota) => String(Number((quota / perUnit).toFixed(6)));
  const toQuota = (value) => Math.round(parseFloat(value) * perUnit);
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));

  /** Unix seconds -> the value of a datetime-local input (local time, minutes). */
  function toLocalInput(ts) {
    if (!ts) return "";
    const d = new Date(ts * 1000);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  }

  /** A datetime-local value -> unix seconds; empty means never (0); NaN when unreadable. */
  function fromLocalInput(value) {
    if (!value) return 0;
    return Math.floor(new Date(value).getTime() / 1000);
  }

  /** "unused" | "disabled" | "used" | "expired": New API's statuses plus the expiry. */
  function stateOf(code) {
    if (code.status === USED) return "used";
    if (code.status === DISABLED) return "disabled";
    if (code.expired_time && code.expired_time < now()) return "expired";
    return "unused";
  }

  const STATE_TEXT = {
    unused: () => T.redemptions_status_1,
    disabled: () => T.redemptions_status_2,
    used: () => T.redemptions_status_3,
    expired: () => T.redemptions_expired,
  };

  /** Offer `text` as a file download, made in the browser. */
  function download(filename, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const link = el("a", { href: url, download: filename, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function stamp() {
    const d = new Date();
    const two = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + two(d.getMonth() + 1) + two(d.getDate()) + "-" + two(d.getHours()) + two(d.getMinutes());
  }

  /** Run `work()` with `buttons` disabled meanwhile; a thrown error shows "Request failed". */
  async function busy(buttons, work) {
    buttons.forEach((b) => (b.disabled = true));
    show("");
    try {
      await work();
    } catch (e) {
      show(T.request_failed);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  function rowButton(action, label, cls, work) {
    return el("button", {
      type: "button", class: cls, "data-action": action,
      onclick: (ev) => busy(ev.currentTarget.closest("tr").querySelectorAll("button"), work),
    }, label);
  }

  function actions(code) {
    const out = [rowButton("copy", T.redemptions_copy_code, "secondary", async () => {
      await copyText(code.key);
      show(T.copied, true);
    })];
    if (code.status !== USED) {
      const on = code.status === ENABLED;
      out.push(rowButton("toggle", on ? T.disable : T.enable, "secondary", async () => {
        const body = { id: code.id, status: on ? DISABLED : ENABLED };
        const res = await api("PUT", "/api/redemption/?status_only=true", body);
        if (!res.success) return show(res.message);
        await list.reload();
        show(T.redemptions_done, true);
      }));
      out.push(rowButton("edit", T.redemptions_edit, "secondary", () => openEdit(code.id)));
    }
    out.push(rowButton("delete", T.delete, "danger", async () => {
      if (!confirm(T.redemptions_confirm_delete)) return;
      const res = await api("DELETE", "/api/redemption/" + code.id);
      if (!res.success) return show(res.message);
      if (editing && editing.id === code.id) closeEdit();
      await list.reload();
      show(T.redemptions_done, true);
    }));
    return out;
  }

  function codeRow(code) {
    const state = stateOf(code);
    const redeemed = code.used_user_id
      ? [fill(T.redemptions_user, { id: code.used_user_id }), el("br"), el("small", {}, when(code.redeemed_time))]
      : ["–"];
    return el("tr", { "data-id": String(code.id) },
      el("td", {}, code.id),
      el("td", {}, code.name),
      el("td", {}, el("span", { class: "badge redemptions-" + state + (state === "unused" ? " on" : "") },
        STATE_TEXT[state]())),
      el("td", {}, usd(code.quota)),
      el("td", {}, when(code.created_time)),
      el("td", {}, ...redeemed),
      el("td", {}, code.expired_time ? when(code.expired_time) : T.redemptions_never),
      el("td", { class: "redemptions-actions" }, ...actions(code)));
  }

  /** One page of the list, or of the search when filters are set. */
  function fetchPage(page, size) {
    const query = new URLSearchParams(filters);
    query.set("p", String(page));
    query.set("page_size", String(size));
    const searching = [...filters.keys()].length > 0;
    return api("GET", (searching ? "/api/redemption/search?" : "/api/redemption/?") + query);
  }

  /** Page `page` of the codes: `{ total, pageSize }`, or null when the API refused. */
  async function loadPage(page) {
    const res = await fetchPage(page, PAGE_SIZE);
    if (!res.success) {
      show(res.message);
      return null;
    }
    const { items, total } = res.data;
    tbody.replaceChildren(...items.map(codeRow));
    if (!items.length) emptyRow(tbody, T.redemptions_none);
    return { total, pageSize: PAGE_SIZE };
  }

  const list = pager($('[data-pager="redemptions"]'), loadPage);

  // -- batch create, the new codes ---------------------------------------------------------------

  onSubmit("redemption", async (form) => {
    const e = form.elements;
    const count = parseInt(e.count.value, 10);
    if (!(count >= 1 && count <= 100)) return show(T.redemptions_bad_count);
    const quota = toQuota(e.quota.value);
    if (!(quota > 0)) return show(T.redemptions_bad_quota);
    const expired = fromLocalInput(e.expired_time.value);
    if (isNaN(expired)) return show(T.request_failed);
    const body = { name: e.name.value.trim(), count, quota, expired_time: expired };
    const res = await api("POST", "/api/redemption/", body);
    if (!res.success) return show(res.message);
    newBox.querySelector("[data-codes]").value = res.data.join("\n");
    newBox.hidden = false;
    form.elements.name.value = "";
    await list.goto(1);
  });

  newBox.querySelector('[data-tool="copy-all"]').addEventListener("click", async (ev) => {
    const button = ev.currentTarget;
    await copyText(newBox.querySelector("[data-codes]").value);
    button.textContent = T.copied;
    setTimeout(() => (button.textContent = T.redemptions_copy_all), 1500);
  });

  newBox.querySelector('[data-tool="download"]').addEventListener("click", () => {
    const codes = newBox.querySelector("[data-codes]").value;
    download("redemption-codes-" + stamp() + ".txt", codes + "\n", "text/plain;charset=utf-8");
  });

  // -- edit --------------------------------------------------------------------------------------

  async function openEdit(id) {
    const res = await api("GET", "/api/redemption/" + id);
    if (!res.success) return show(res.message);
    editing = res.data;
    const e = editForm.elements;
    e.id.value = String(editing.id);
    e.name.value = editing.name;
    e.quota.value = usdValue(editing.quota);
    e.expired_time.value = toLocalInput(editing.expired_time);
    $("[data-edit-name]").textContent = "#" + editing.id;
    editBox.hidden = false;
    editBox.scrollIntoView({ block: "nearest" });
    e.name.focus();
  }

  function closeEdit() {
    editing = null;
    editBox.hidden = true;
    editForm.reset();
  }

  onSubmit("redemption-edit", async (form) => {
    if (!editing) return;
    const e = form.elements;
    // Only what changed is sent, so an unchanged past expiry or a rounded value stays as it is.
    const body = { id: editing.id };
    if (e.name.value.trim() !== editing.name) body.name = e.name.value.trim();
    if (e.quota.value !== usdValue(editing.quota)) {
      body.quota = toQuota(e.quota.value);
      if (!(body.quota > 0)) return show(T.redemptions_bad_quota);
    }
    if (e.expired_time.value !== toLocalInput(editing.expired_time)) {
      body.expired_time = fromLocalInput(e.expired_time.value);
      if (isNaN(body.expired_time)) return show(T.request_failed);
    }
    const res = await api("PUT", "/api/redemption/", body);
    if (!res.success) return show(res.message);
    closeEdit();
    await list.reload();
    show(T.redemptions_saved, true);
  });

  editForm.querySelector("[data-cancel]").addEventListener("click", () => {
    show("");
    closeEdit();
  });

  // -- search, paging, tools ---------------------------------------------------------------------

  onSubmit("redemption-search", async (form) => {
    filters = new URLSearchParams();
    for (const name of ["keyword", "status"]) {
      const value = form.elements[name].value.trim();
      if (value) filters.set(name, value);
    }
    await list.goto(1);
  });

  /** One CSV field: quoted when needed; a leading = + - @ is defused for spreadsheets. */
  function csvField(value) {
    let s = value === undefined || value === null ? "" : String(value);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  const iso = (ts) => (ts ? new Date(ts * 1000).toISOString() : "");

  const exportButton = $('[data-tool="export"]');
  exportButton.addEventListener("click", () => busy([exportButton], async () => {
    const head = ["id", "name", "key", "status", "quota_usd", "created_time", "redeemed_time", "used_user_id"];
    const lines = [head.join(",")];
    for (let page = 1; ; page++) {
      const res = await fetchPage(page, EXPORT_PAGE_SIZE);
      if (!res.success) return show(res.message);
      for (const c of res.data.items) {
        const row = [c.id, c.name, c.key, stateOf(c), (c.quota / perUnit).toFixed(6),
          iso(c.created_time), iso(c.redeemed_time), c.used_user_id || ""];
        lines.push(row.map(csvField).join(","));
      }
      if (!res.data.items.length || page * EXPORT_PAGE_SIZE >= res.data.total) break;
    }
    // The byte-order mark lets spreadsheet programs read non-ASCII names as UTF-8.
    download("redemption-codes-" + stamp() + ".csv", "\ufeff" + lines.join("\r\n") + "\r\n", "text/csv;charset=utf-8");
  }));

  const purgeButton = $('[data-tool="delete-invalid"]');
  purgeButton.addEventListener("click", () => busy([purgeButton], async () => {
    if (!confirm(T.redemptions_confirm_delete_invalid)) return;
    const res = await api("DELETE", "/api/redemption/invalid");
    if (!res.success) return show(res.message);
    await list.reload();
    show(fill(T.redemptions_deleted_invalid, { count: res.data }), true);
  }));

  list.reload();
})();
