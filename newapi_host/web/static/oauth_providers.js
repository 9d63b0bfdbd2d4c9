// Root: custom OAuth providers. Lists /api/custom-oauth-provider/, edits one in the form below the
// list (POST to create, PUT to change), toggles and deletes from the list. The client secret is
// never sent to the page: an empty secret field on save keeps the stored one.
"use strict";
(function () {
  const { T, api, el, show, onSubmit, emptyRow } = window.NA;
  const form = document.querySelector('form[data-form="oauth-provider"]');
  if (!form) return; // an admin who is not root: the page only explains
  const tbody = document.querySelector('[data-list="oauth-providers"]');
  const title = document.querySelector("[data-form-title]");
  const TEXT = ["name", "slug", "icon", "client_id", "well_known", "authorization_endpoint", "token_endpoint",
    "user_info_endpoint", "scopes", "user_id_field", "username_field", "display_name_field", "email_field",
    "access_policy", "access_denied_message"];
  const CHECKS = ["enabled", "pkce_enabled"];
  const blank = {};
  for (const name of TEXT) blank[name] = form.elements[name].defaultValue;

  function edit(p) {
    form.elements.id.value = p ? p.id : "";
    for (const name of TEXT) form.elements[name].value = p ? p[name] || "" : blank[name];
    for (const name of CHECKS) form.elements[name].checked = p ? !!p[name] : false;
    form.elements.auth_style.value = String(p ? p.auth_style || 0 : 0);
    form.elements.client_secret.value = "";
    form.elements.client_secret.placeholder = p && p.has_client_secret ? T.cop_secret_kept : "";
    title.textContent = p ? T.cop_edit + " " + p.name : T.cop_new;
    if (p) form.scrollIntoView({ behavior: "smooth" });
  }

  async function load() {
    const res = await api("GET", "/api/custom-oauth-provider/");
    if (!res.success) return show(res.message);
    if (!res.data.length) return emptyRow(tbody, T.cop_none);
    tbody.replaceChildren();
    for (const p of res.data) {
      const act = async (method, body) => {
        const done = await api(method, "/api/custom-oauth-provider/" + p.id, body);
        if (!done.success) return show(done.message);
        show(T.cop_saved, true);
        load();
      };
      const buttons = el("td", {},
        el("button", { type: "button", class: "secondary", "data-action": "edit", onclick: () => edit(p) }, T.cop_edit),
        " ",
        el("button", { type: "button", class: "secondary", "data-action": "toggle",
          onclick: () => act("PUT", { enabled: !p.enabled }) }, p.enabled ? T.cop_disable : T.cop_enable),
        " ",
        el("button", { type: "button", class: "danger", "data-action": "delete",
          onclick: () => confirm(T.cop_confirm_delete) && act("DELETE") }, T.cop_delete));
      tbody.append(el("tr", { "data-id": p.id },
        el("td", {}, p.name), el("td", {}, el("code", {}, p.slug)), el("td", {}, p.client_id),
        el("td", {}, p.enabled ? T.cop_on : T.cop_off), buttons));
    }
  }

  onSubmit("oauth-provider", async () => {
    const body = {};
    for (const name of TEXT) body[name] = form.elements[name].value.trim();
    for (const name of CHECKS) body[name] = form.elements[name].checked;
    body.auth_style = parseInt(form.elements.auth_style.value, 10) || 0;
    if (form.elements.client_secret.value) body.client_secret = form.elements.client_secret.value;
    const id = form.elements.id.value;
    const res = await api(id ? "PUT" : "POST", "/api/custom-oauth-provider/" + id, body);
    if (!res.success) return show(res.message);
    show(T.cop_saved, true);
    edit(null);
    load();
  });

  form.querySelector("[data-cancel]").addEventListener("click", () => edit(null));
  form.querySelector('[data-tool="discover"]').addEventListener("click", async () => {
    const res = await api("POST", "/api/custom-oauth-provider/discovery",
      { well_known_url: form.elements.well_known.value.trim() });
    if (!res.success) return show(res.message);
    const doc = res.data.discovery;
    form.elements.well_known.value = res.data.well_known_url;
    if (doc.authorization_endpoint) form.elements.authorization_endpoint.value = doc.authorization_endpoint;
    if (doc.token_endpoint) form.elements.token_endpoint.value = doc.token_endpoint;
    if (doc.userinfo_endpoint) form.elements.user_info_endpoint.value = doc.userinfo_endpoint;
    show(T.cop_discovered, true);
  });

  load();
})();
