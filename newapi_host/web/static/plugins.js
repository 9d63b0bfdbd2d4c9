// Admin: plugins (on/off switch) and a plugin's settings form.
"use strict";
(function () {
  const { T, page, api, el, show, onSubmit, schemaForm } = window.NA;
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

  // -- plugin settings: a form built from the settings' pydantic JSON schema --------------------

  let settingsForm = null;

  async function loadPluginSettings() {
    const form = document.querySelector('form[data-form="plugin-settings"]');
    const box = form.querySelector("[data-fields]");
    const res = await api("GET", "/api/plugins/" + encodeURIComponent(form.dataset.plugin) + "/settings");
    if (!res.success) {
      box.replaceChildren(el("p", {}, res.message || T.plugin_no_settings));
      form.querySelector("button[type=submit]").hidden = true;
      return;
    }
    settingsForm = schemaForm(box, res.data.schema || {}, res.data.settings);
  }

  onSubmit("plugin-settings", async (form) => {
    const body = settingsForm.values();
    if (body === null) return show(T.request_failed);
    const res = await api("PUT", "/api/plugins/" + encodeURIComponent(form.dataset.plugin) + "/settings", body);
    if (!res.success) {
      show(res.message);
      settingsForm.showErrors(res.data && res.data.errors);
      return;
    }
    show(T.saved, true);
  });

  if (page === "plugins") loadPlugins();
  if (page === "plugin-settings") loadPluginSettings();
})();
