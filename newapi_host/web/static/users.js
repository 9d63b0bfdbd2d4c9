// Admin: users: list with search and paging, create, edit, balance adjustment, enable/disable,
// promote/demote (root only, the API decides) and delete.
"use strict";
(function () {
  const { T, role: viewerRole, api, el, show, usd, perUnit, onSubmit, emptyRow, pager } = window.NA;
  const PAGE_SIZE = 20;
  const ROLE_ADMIN = 10;
  const ROLE_ROOT = 100;
  let filters = new URLSearchParams();
  let editing = null; // the user row being edited (from GET /api/user/{id})
  let groups = [];

  const $ = (selector) => document.querySelector(selector);
  const tbody = $('[data-list="users"]');
  const editBox = $('[data-edit="user"]');
  const editForm = $('form[data-form="user"]');
  const quotaForm = $('form[data-form="user-quota"]');

  /** USD text for an input: exact enough to round-trip to the same quota. */
  const usdValue = (quota) => String(Number((quota / perUnit).toFixed(6)));
  const toQuota = (value) => Math.round(parseFloat(value) * perUnit);

  function roleText(role) {
    return T["users_role_" + role] || String(role);
  }

  function statusBadge(user) {
    if (user.DeletedAt) return el("span", { class: "badge users-deleted" }, T.users_deleted);
    const on = user.status === 1;
    return el("span", { class: on ? "badge on" : "badge" }, on ? T.enabled : T.disabled);
  }

  /** A row button that runs `work()` with every button of the row disabled meanwhile. */
  function rowButton(action, label, cls, work) {
    return el("button", {
      type: "button", class: cls, "data-action": action,
      onclick: async (ev) => {
        const buttons = ev.currentTarget.closest("tr").querySelectorAll("button");
        buttons.forEach((b) => (b.disabled = true));
        show("");
        try {
          await work();
        } catch (e) {
          show(T.request_failed);
        } finally {
          buttons.forEach((b) => (b.disabled = false));
        }
      },
    }, label);
  }

  async function manage(user, action, question) {
    if (question && !confirm(question)) return;
    const res = await api("POST", "/api/user/manage", { id: user.id, action });
    if (!res.success) return show(res.message);
    await list.reload();
    show(T.users_done, true);
  }

  function actions(user) {
    if (user.DeletedAt) return [];
    const out = [rowButton("edit", T.users_edit, "secondary", () => openEdit(user.id))];
    // The API lets root manage anyone but root, and an admin only users below them.
    if (user.role >= ROLE_ROOT || (viewerRole < ROLE_ROOT && user.role >= viewerRole)) return out;
    const on = user.status === 1;
    out.push(rowButton("toggle", on ? T.disable : T.enable, "secondary",
      () => manage(user, on ? "disable" : "enable")));
    if (viewerRole < ROLE_ROOT) {
      // promoting and demoting is root's alone (the API refuses anyone else): no buttons
    } else if (user.role < ROLE_ADMIN) {
      out.push(rowButton("promote", T.users_promote, "secondary",
        () => manage(user, "promote", T.users_confirm_promote)));
    } else {
      out.push(rowButton("demote", T.users_demote, "secondary",
        () => manage(user, "demote", T.users_confirm_demote)));
    }
    out.push(rowButton("delete", T.delete, "danger", async () => {
      if (!confirm(T.users_confirm_delete)) return;
      const res = await api("DELETE", "/api/user/" + user.id);
      if (!res.success) return show(res.message);
      if (editing && editing.id === user.id) closeEdit();
      await list.reload();
      show(T.users_done, true);
    }));
    return out;
  }

  function userRow(user) {
    const name = [el("strong", {}, user.username)];
    if (user.display_name && user.display_name !== user.username) {
      name.push(el("br"), el("small", { class: "users-muted" }, user.display_name));
    }
    if (user.remark) name.push(el("br"), el("small", { class: "users-muted" }, user.remark));
    return el("tr", { "data-id": String(user.id), class: user.DeletedAt ? "users-gone" : undefined },
      el("td", {}, user.id),
      el("td", {}, ...name),
      el("td", {}, el("span", { class: "badge users-role-" + user.role }, roleText(user.role))),
      el("td", {}, statusBadge(user)),
      el("td", {}, user.group),
      el("td", {}, usd(user.quota)),
      el("td", {}, usd(user.used_quota)),
      el("td", {}, user.request_count),
      el("td", { class: "users-actions" }, ...actions(user)));
  }

  /** Page `page` of the list (or of the search): `{ total, pageSize }`, or null when the API refused. */
  async function loadPage(page) {
    const query = new URLSearchParams(filters);
    query.set("p", String(page));
    query.set("page_size", String(PAGE_SIZE));
    const searching = [...filters.keys()].length > 0;
    const res = await api("GET", (searching ? "/api/user/search?" : "/api/user/?") + query);
    if (!res.success) {
      show(res.message);
      return null;
    }
    const { items, total } = res.data;
    tbody.replaceChildren(...items.map(userRow));
    if (!items.length) emptyRow(tbody, T.users_none);
    return { total, pageSize: PAGE_SIZE };
  }

  const list = pager($('[data-pager="users"]'), loadPage);

  // -- groups (search filter and edit form) ------------------------------------------------------

  async function loadGroups() {
    const res = await api("GET", "/api/group/");
    if (!res.success) return show(res.message);
    groups = res.data || [];
    const select = $('form[data-form="user-search"] select[name="group"]');
    for (const g of groups) select.append(el("option", { value: g }, g));
  }

  function fillGroupSelect(current) {
    const select = editForm.elements.group;
    const names = groups.includes(current) ? groups : [current, ...groups];
    select.replaceChildren(...names.map((g) => el("option", { value: g }, g)));
    select.value = current;
  }

  // -- edit --------------------------------------------------------------------------------------

  function showQuota(quota) {
    $("[data-current-quota]").textContent = usd(quota, 6);
  }

  async function openEdit(id) {
    const res = await api("GET", "/api/user/" + id);
    if (!res.success) return show(res.message);
    editing = res.data;
    const e = editForm.elements;
    editForm.reset();
    quotaForm.reset();
    e.id.value = String(editing.id);
    e.display_name.value = editing.display_name || "";
    e.email.value = editing.email || "";
    e.remark.value = editing.remark || "";
    e.quota.value = usdValue(editing.quota);
    fillGroupSelect(editing.group);
    $("[data-edit-name]").textContent = editing.username + " #" + editing.id;
    showQuota(editing.quota);
    editBox.hidden = false;
    editBox.scrollIntoView({ block: "nearest" });
    e.display_name.focus();
  }

  function closeEdit() {
    editing = null;
    editBox.hidden = true;
    editForm.reset();
    quotaForm.reset();
  }

  onSubmit("user", async (form) => {
    if (!editing) return;
    const e = form.elements;
    // Only what changed is sent: the audit log names it, and the balance is not overwritten with
    // the value shown when the form opened (usage charged meanwhile is kept).
    const body = { id: editing.id };
    const text = { display_name: e.display_name.value.trim(), email: e.email.value.trim(), remark: e.remark.value };
    for (const [name, value] of Object.entries(text)) {
      if (value !== (editing[name] || "")) body[name] = value;
    }
    if (e.group.value !== editing.group) body.group = e.group.value;
    if (e.password.value) body.password = e.password.value;
    if (e.quota.value !== usdValue(editing.quota)) {
      const quota = toQuota(e.quota.value);
      if (!(quota >= 0)) return show(T.users_quota_invalid);
      body.quota = quota;
    }
    const res = await api("PUT", "/api/user/", body);
    if (!res.success) return show(res.message);
    await openEdit(editing.id);
    await list.reload();
    show(T.users_updated, true);
  });

  onSubmit("user-quota", async (form) => {
    if (!editing) return;
    const value = toQuota(form.elements.amount.value);
    if (!(value > 0)) return show(T.users_amount_positive);
    const res = await api("POST", "/api/user/manage", {
      id: editing.id, action: "add_quota", mode: form.elements.mode.value, value,
    });
    if (!res.success) return show(res.message);
    await openEdit(editing.id);
    await list.reload();
    show(T.users_adjusted, true);
  });

  editForm.querySelector("[data-cancel]").addEventListener("click", () => {
    show("");
    closeEdit();
  });

  // -- create, search, paging --------------------------------------------------------------------

  onSubmit("user-create", async (form) => {
    const e = form.elements;
    const res = await api("POST", "/api/user/", {
      username: e.username.value.trim(),
      display_name: e.display_name.value.trim(),
      password: e.password.value,
      role: parseInt(e.role.value, 10),
    });
    if (!res.success) return show(res.message);
    form.reset();
    await list.goto(1);
    show(T.users_added, true);
  });

  onSubmit("user-search", async (form) => {
    filters = new URLSearchParams();
    for (const name of ["keyword", "group", "role", "status"]) {
      const value = form.elements[name].value.trim();
      if (value) filters.set(name, value);
    }
    await list.goto(1);
  });

  loadGroups();
  list.reload();
})();
