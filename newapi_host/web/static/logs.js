// Usage logs with filters, totals and paging.
"use strict";
(function () {
  const { T, api, el, show, usd, perUnit, formData, onSubmit } = window.NA;
  // -- usage logs -------------------------------------------------------------------------------

  const LOG_PAGE_SIZE = 20;
  let logPage = 1;

  function logFilters() {
    const form = document.querySelector('form[data-form="log-filter"]');
    const q = new URLSearchParams();
    const e = form.elements;
    if (e.model_name.value) q.set("model_name", e.model_name.value);
    if (e.token_name.value) q.set("token_name", e.token_name.value);
    for (const [field, param] of [["start", "start_timestamp"], ["end", "end_timestamp"]]) {
      const ms = e[field].value ? new Date(e[field].value).getTime() : NaN;
      if (!isNaN(ms)) q.set(param, String(Math.floor(ms / 1000)));
    }
    return q;
  }

  async function loadLogs() {
    const tbody = document.querySelector('[data-list="logs"]');
    const filters = logFilters();
    const query = new URLSearchParams(filters);
    query.set("p", String(logPage));
    query.set("page_size", String(LOG_PAGE_SIZE));
    const [res, stat] = await Promise.all([
      api("GET", "/api/log/self?" + query), api("GET", "/api/log/self/stat?" + filters),
    ]);
    if (!res.success) return show(res.message);
    show(stat.success ? "" : stat.message);
    document.querySelector('[data-stat="total_quota"]').textContent = stat.success ? usd(stat.data.quota) : "–";
    const { items, total } = res.data;
    const money = (quota) => "$" + (quota / perUnit).toFixed(6);
    tbody.replaceChildren();
    if (!items.length) tbody.append(el("tr", {}, el("td", { colspan: 9 }, T.no_logs)));
    for (const row of items) {
      tbody.append(el("tr", {},
        el("td", {}, new Date(row.created_at * 1000).toLocaleString()),
        el("td", {}, T["log_type_" + row.type] || String(row.type)),
        el("td", {}, row.model_name || ""),
        el("td", {}, row.token_name || ""),
        el("td", {}, money(row.quota)),
        el("td", {}, row.prompt_tokens),
        el("td", {}, row.completion_tokens),
        el("td", {}, row.use_time),
        el("td", {}, row.is_stream ? T.yes : T.no)));
    }
    const pages = Math.max(1, Math.ceil(total / LOG_PAGE_SIZE));
    document.querySelector("[data-page-info]").textContent = logPage + " / " + pages;
    document.querySelector('[data-page="prev"]').disabled = logPage <= 1;
    document.querySelector('[data-page="next"]').disabled = logPage >= pages;
  }

  onSubmit("log-filter", async () => {
    logPage = 1;
    await loadLogs();
  });
  document.querySelectorAll("button[data-page]").forEach((b) =>
    b.addEventListener("click", () => {
      logPage = Math.max(1, logPage + (b.dataset.page === "next" ? 1 : -1));
      loadLogs();
    })
  );

  loadLogs();
})();
