// Usage logs with filters, totals and paging. Admins (data-scope="all") read everyone's logs and
// may filter by user and channel; users read their own.
"use strict";
(function () {
  const { T, api, el, show, usd, perUnit, onSubmit, emptyRow, pager } = window.NA;
  const form = document.querySelector('form[data-form="log-filter"]');
  const everyone = form.dataset.scope === "all";
  const base = everyone ? "/api/log/" : "/api/log/self";
  const statUrl = everyone ? "/api/log/stat" : "/api/log/self/stat";
  const PAGE_SIZE = 20;

  function filters() {
    const q = new URLSearchParams();
    const e = form.elements;
    const names = ["model_name", "token_name", "type"].concat(everyone ? ["username", "channel"] : []);
    for (const name of names) if (e[name].value.trim()) q.set(name, e[name].value.trim());
    for (const [name, param] of [["start", "start_timestamp"], ["end", "end_timestamp"]]) {
      const ms = e[name].value ? new Date(e[name].value).getTime() : NaN;
      if (!isNaN(ms)) q.set(param, String(Math.floor(ms / 1000)));
    }
    return q;
  }

  const REQUEST_TYPES = new Set([2, 5]); // consume and error rows describe a relay request
  const money = (row) => (row.type === 2 || row.quota ? "$" + (row.quota / perUnit).toFixed(6) : "–");

  /** Page `page` of the logs and the filter's total spend; `{ total, pageSize }`, or null when refused. */
  async function loadLogs(page) {
    const tbody = document.querySelector('[data-list="logs"]');
    const where = filters();
    const query = new URLSearchParams(where);
    query.set("p", String(page));
    query.set("page_size", String(PAGE_SIZE));
    const [res, stat] = await Promise.all([api("GET", base + "?" + query), api("GET", statUrl + "?" + where)]);
    if (!res.success) {
      show(res.message);
      return null;
    }
    show(stat.success ? "" : stat.message);
    document.querySelector('[data-stat="total_quota"]').textContent = stat.success ? usd(stat.data.quota) : "–";
    const { items, total } = res.data;
    tbody.replaceChildren();
    if (!items.length) emptyRow(tbody, T.no_logs);
    for (const row of items) {
      const who = everyone ? [el("td", {}, row.username || ""), el("td", {}, row.channel || "")] : [];
      tbody.append(el("tr", { "data-id": row.id },
        el("td", {}, new Date(row.created_at * 1000).toLocaleString()),
        ...who,
        el("td", {}, T["log_type_" + row.type] || String(row.type)),
        el("td", {}, row.model_name || ""),
        el("td", {}, row.token_name || ""),
        el("td", {}, money(row)),
        ...(REQUEST_TYPES.has(row.type)
          ? [row.prompt_tokens, row.completion_tokens, row.use_time, row.is_stream ? T.yes : T.no]
          : ["", "", "", ""]).map((v) => el("td", {}, v)),
        el("td", { class: "log-content" }, row.content || "")));
    }
    return { total, pageSize: PAGE_SIZE };
  }

  const logs = pager(document.querySelector('[data-pager="logs"]'), loadLogs);
  onSubmit("log-filter", () => logs.goto(1));
  logs.reload();
})();
