// Drawings (Midjourney tasks): admins (data-scope="all") read everyone's with a channel filter,
// users their own. Thumbnails load through the gateway's /mj/image/{id} proxy (session cookie).
"use strict";
(function () {
  const { T, api, el, show, usd, onSubmit, emptyRow, pager } = window.NA;
  const form = document.querySelector('form[data-form="task-filter"]');
  const everyone = form.dataset.scope === "all";
  const PAGE_SIZE = 20;

  function filters() {
    const q = new URLSearchParams();
    const e = form.elements;
    for (const name of ["mj_id"].concat(everyone ? ["channel_id"] : [])) {
      if (e[name].value.trim()) q.set(name, e[name].value.trim());
    }
    for (const [name, param] of [["start", "start_timestamp"], ["end", "end_timestamp"]]) {
      const ms = e[name].value ? new Date(e[name].value).getTime() : NaN;
      if (!isNaN(ms)) q.set(param, String(ms)); // drawings keep New API's millisecond times
    }
    return q;
  }

  async function load(page) {
    const tbody = document.querySelector('[data-list="drawings"]');
    const query = filters();
    query.set("p", String(page));
    query.set("page_size", String(PAGE_SIZE));
    const res = await api("GET", (everyone ? "/api/mj/" : "/api/mj/self") + "?" + query);
    if (!res.success) {
      show(res.message);
      return null;
    }
    show("");
    const { items, total } = res.data;
    tbody.replaceChildren();
    if (!items.length) emptyRow(tbody, T.no_drawings);
    for (const row of items) {
      const image = row.image_url
        ? el("a", { href: row.image_url, target: "_blank", rel: "noopener" },
            el("img", { src: row.image_url, alt: row.mj_id, class: "thumb", loading: "lazy", width: "96" }))
        : "–";
      tbody.append(el("tr", { "data-id": row.mj_id },
        el("td", {}, row.submit_time ? new Date(row.submit_time).toLocaleString() : ""),
        ...(everyone ? [el("td", {}, row.channel_id || "")] : []),
        el("td", {}, row.mj_id),
        el("td", {}, row.action),
        el("td", { "data-status": row.status }, row.status || ""),
        el("td", {}, row.progress || ""),
        el("td", {}, image),
        el("td", { class: "log-content" }, row.prompt || ""),
        el("td", { "data-cost": row.quota }, usd(row.quota)),
        el("td", {}, row.fail_reason || "")));
    }
    return { total, pageSize: PAGE_SIZE };
  }

  const list = pager(document.querySelector('[data-pager="drawings"]'), load);
  onSubmit("task-filter", () => list.goto(1));
  list.reload();
})();
