// Public model pricing.
"use strict";
(function () {
  const { T, api, el, show, usd, perUnit, formData, onSubmit } = window.NA;
  // -- pricing ----------------------------------------------------------------------------------

  async function loadPricing() {
    const tbody = document.querySelector('[data-list="pricing"]');
    const res = await api("GET", "/api/pricing");
    if (!res.success) return show(res.message);
    const price = (n) => "$" + +Number(n).toFixed(6);
    tbody.replaceChildren();
    if (!res.data.length) tbody.append(el("tr", {}, el("td", { colspan: 6 }, T.no_models)));
    for (const m of res.data) {
      const perCall = m.quota_type === 1;
      const tr = el("tr", { "data-name": m.model_name.toLowerCase() },
        el("td", {}, el("code", {}, m.model_name)),
        el("td", {}, perCall ? T.per_call : T.per_token),
        el("td", {}, perCall ? "–" : price(m.model_ratio * 2)),
        el("td", {}, perCall ? "–" : price(m.model_ratio * m.completion_ratio * 2)),
        el("td", {}, perCall ? price(m.model_price) : "–"),
        el("td", {}, (m.enable_groups || []).join(", ")));
      tbody.append(tr);
    }
    filterPricing();
  }

  function filterPricing() {
    const box = document.querySelector("[data-search]");
    const needle = box.value.trim().toLowerCase();
    document.querySelectorAll('[data-list="pricing"] tr[data-name]').forEach((tr) =>
      (tr.hidden = !!needle && !tr.dataset.name.includes(needle)));
  }

  const searchBox = document.querySelector("[data-search]");
  if (searchBox) searchBox.addEventListener("input", filterPricing);

  loadPricing();
})();
