// Public model pricing, as New API's pricing page: prices per million tokens (or per call) for the
// chosen group, that is the base price times the group's ratio; only models the group can use.
"use strict";
(function () {
  const { T, api, el, show, emptyRow } = window.NA;
  const tbody = document.querySelector('[data-list="pricing"]');
  const groupSelect = document.querySelector("select[data-group]");
  const ratioBox = document.querySelector("[data-group-ratio]");
  const searchBox = document.querySelector("[data-search]");
  let models = [];
  let ratios = {};

  const price = (n) => "$" + +Number(n).toFixed(6);

  function render() {
    const group = groupSelect.value;
    const ratio = group in ratios ? ratios[group] : 1;
    ratioBox.textContent = group ? T.pricing_group_ratio.replace("{ratio}", String(ratio)) : "";
    tbody.replaceChildren();
    const shown = models.filter((m) => !group || (m.enable_groups || []).some((g) => g === group || g === "all"));
    if (!shown.length) return emptyRow(tbody, T.no_models);
    for (const m of shown) {
      const perCall = m.quota_type === 1;
      tbody.append(el("tr", { "data-name": m.model_name.toLowerCase() },
        el("td", {}, el("code", {}, m.model_name)),
        el("td", {}, perCall ? T.per_call : T.per_token),
        el("td", {}, perCall ? "–" : price(m.model_ratio * 2 * ratio)),
        el("td", {}, perCall ? "–" : price(m.model_ratio * m.completion_ratio * 2 * ratio)),
        el("td", {}, perCall ? price(m.model_price * ratio) : "–"),
        el("td", {}, (m.enable_groups || []).join(", "))));
    }
    filter();
  }

  function filter() {
    const needle = searchBox.value.trim().toLowerCase();
    tbody.querySelectorAll("tr[data-name]").forEach((tr) => (tr.hidden = !!needle && !tr.dataset.name.includes(needle)));
  }

  async function load() {
    const res = await api("GET", "/api/pricing");
    if (!res.success) return show(res.message);
    models = res.data || [];
    ratios = res.group_ratio || {};
    const usable = res.usable_group || {};
    const groups = Object.keys(ratios);
    groupSelect.replaceChildren(el("option", { value: "" }, T.pricing_all_groups),
      ...groups.map((g) => el("option", { value: g }, usable[g] && usable[g] !== g ? g + " · " + usable[g] : g)));
    if (groups.includes("default")) groupSelect.value = "default";
    render();
  }

  groupSelect.addEventListener("change", render);
  searchBox.addEventListener("input", filter);
  load();
})();
