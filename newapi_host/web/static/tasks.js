// Async tasks (Suno, video ...): admins (data-scope="all") read everyone's, users their own.
"use strict";
(function () {
  const { T, api, el, show, usd, onSubmit, emptyRow, pager } = window.NA;
  const form = document.querySelector('form[data-form="task-filter"]');
  const everyone = form.dataset.scope === "all";
  const PAGE_SIZE = 20;

  function filters() {
    const q = new URLSearchParams();
    const e = form.elements;
    for (const name of ["task_id", "platform", "status"].concat(everyone ? ["channel_id"] : [])) {
      if (e[name].value.trim()) q.set(name, e[name].value.trim());
    }
    for (const [name, param] of [["start", "start_timestamp"], ["end", "end_timestamp"]]) {
      const ms = e[name].value ? new Date(e[name].value).getTime() : NaN;
      if (!isNaN(ms)) q.set(param, String(Math.floor(ms / 1000)));
    }
    return q;
  }

  async function load(page) {
    const tbody = document.querySelector('[data-list="tasks"]');
    const query = filters();
    query.set("p", String(page));
    query.set("page_size", String(PAGE_SIZE));
    const res = await api("GET", (everyone ? "/api/task/" : "/api/task/self") + "?" + query);
    if (!res.success) {
      show(res.message);
      return null;
    }
    show("");
    const { items, total } = res.data;
    tbody.replaceChildren();
    if (!items.length) emptyRow(tbody, T.no_tasks);
    for (const row of items) {
      tbody.append(el("tr", { "data-id": row.task_id },
        el("td", {}, row.submit_time ? new Date(row.submit_time * 1000).toLocaleString() : ""),
        ...(everyone ? [el("td", {}, row.username || ""), el("td", {}, row.channel_id || "")] : []),
        el("td", {}, row.task_id),
        el("td", {}, row.platform),
        el("td", {}, row.action),
        el("td", { "data-status": row.status }, row.status || ""),
        el("td", {}, row.progress || ""),
        el("td", { "data-cost": row.quota }, usd(row.quota)),
        el("td", {}, row.fail_reason || "")));
    }
    return { total, pageSize: PAGE_SIZE };
  }

  const list = pager(document.querySelector('[data-pager="tasks"]'), load);
  onSubmit("task-filter", () => list.goto(1));
  list.reload();
})();
