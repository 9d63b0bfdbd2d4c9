// Admin: plugins (on/off switch) and a plugin's settings form.
"use strict";
(function () {
  const { T, page, role, api, el, show, onSubmit, schemaForm } = window.NA;
  const ROOT = 100;
  const SHOWN = 6; // items listed per kind; the rest are counted (and listed in the tooltip)

  /** What a plugin contributes, one line per kind: "Channel types: OpenAI, Azure". */
  function providesList(provides) {
    const list = el("ul", { class: "provides" });
    for (const [kind, items] of Object.entries(provides || {})) {
      if (!items || !items.length) continue;
      const names = items.map((x) => (typeof x === "object" ? x.name : String(x)));
      const label = T["plugins_kind_" + kind] || kind;
      const text = kind === "priced_models" ? String(names.length)
        : names.slice(0, SHOWN).join(", ") + (names.length > SHOWN
          ? " " + T.plugins_more.replace("{n}", String(names.length - SHOWN)) : "");
      list.append(el("li", { title: names.join("\n") }, el("strong", {}, label + ": "), text));
    }
    return list;
  }

  async function loadPlugins() {
    const tbody = document.querySelector('[data-list="plugins"]');
    const res = await api("GET", "/api/plugins");
    if (!res.success) return show(res.message);
    tbody.replaceChildren();
    if (role < ROOT) show(T.plugins_root_only, true);
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
      if (!p.loaded || p.blocked || role < ROOT) toggle.disabled = true;
      if (role < ROOT) toggle.title = T.plugins_root_only;
      tbody.append(el("tr", {},
        el("td", {}, p.name, p.builtin ? el("span", { class: "badge" }, T.builtin) : ""),
        el("td", {}, p.distribution || ""),
        el("td", {}, p.version || ""),
        el("td", {}, providesList(p.provides)),
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
    if (role < ROOT) {
      form.querySelectorAll("input, select, textarea, button").forEach((n) => (n.disabled = true));
      show(T.plugins_root_only, true);
    }
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
