// Admin: the top-up order desk: every order, filtered and paged; complete an unpaid one by hand;
// the payment notices the gateway refused.
"use strict";
(function () {
  const { T, api, el, show, onSubmit, emptyRow, pager } = window.NA;
  const PAGE_SIZE = 20;
  const $ = (selector) => document.querySelector(selector);
  const tbody = $('[data-list="topups"]');
  const when = (ts) => (ts ? new Date(ts * 1000).toLocaleString() : "–");
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  const statusText = (s) => T["wallet_status_" + s] || s;
  let filters = new URLSearchParams();

  async function complete(order, button) {
    if (!confirm(fill(T.topups_confirm_complete, { trade_no: order.trade_no, user: order.user_id }))) return;
    button.disabled = true;
    try {
      const res = await api("POST", "/api/user/topup/complete", { trade_no: order.trade_no });
      if (!res.success) return show(res.message || T.request_failed);
      show(fill(T.topups_completed_ok, { trade_no: order.trade_no }), true);
      await list.reload();
    } finally {
      button.disabled = false;
    }
  }

  function row(order) {
    const actions = el("td", {});
    if (order.status !== "success") {
      const button = el("button", { type: "button", class: "secondary", "data-action": "complete" }, T.topups_complete);
      button.addEventListener("click", () => complete(order, button));
      actions.append(button);
    }
    return el("tr", { "data-trade": order.trade_no },
      el("td", {}, el("code", {}, order.trade_no)),
      el("td", {}, String(order.user_id)),
      el("td", {}, [order.payment_method, order.payment_provider].filter(Boolean).join(" / ") || "–"),
      el("td", {}, String(order.amount)),
      el("td", {}, Number(order.money).toFixed(2)),
      el("td", {}, el("span", { class: order.status === "success" ? "badge on" : "badge", "data-status": order.status },
        statusText(order.status))),
      el("td", {}, when(order.create_time)),
      el("td", {}, when(order.complete_time)),
      actions);
  }

  async function loadPage(page) {
    const query = new URLSearchParams(filters);
    query.set("p", String(page));
    query.set("page_size", String(PAGE_SIZE));
    const res = await api("GET", "/api/user/topup?" + query.toString());
    if (!res.success) {
      emptyRow(tbody, res.message || T.request_failed);
      return null;
    }
    const { items, total } = res.data;
    if (!items.length) emptyRow(tbody, T.topups_none);
    else tbody.replaceChildren(...items.map(row));
    return { total, pageSize: PAGE_SIZE };
  }

  const list = pager($('[data-pager="topups"]'), loadPage);

  const seconds = (value) => (value ? String(Math.floor(new Date(value).getTime() / 1000)) : "");

  onSubmit("topup-search", async (form) => {
    const e = form.elements;
    filters = new URLSearchParams();
    const values = {
      trade_no: e.trade_no.value.trim(),
      user_id: e.user_id.value.trim(),
      status: e.status.value,
      payment_method: e.payment_method.value.trim(),
      start_timestamp: seconds(e.start.value),
      end_timestamp: seconds(e.end.value),
    };
    for (const [k, v] of Object.entries(values)) if (v && v !== "NaN") filters.set(k, v);
    await list.goto(1);
  });

  const refusedBody = $('[data-list="refused"]');
  const refused = pager($('[data-pager="refused"]'), async (page) => {
    const res = await api("GET", "/api/user/topup/refused?p=" + page + "&page_size=" + PAGE_SIZE);
    if (!res.success) {
      emptyRow(refusedBody, res.message || T.request_failed);
      return null;
    }
    const { items, total } = res.data;
    if (!items.length) emptyRow(refusedBody, T.topups_refused_none);
    else refusedBody.replaceChildren(...items.map((r) => el("tr", { "data-refusal": String(r.id) },
      el("td", {}, when(r.created_at)),
      el("td", {}, r.method),
      el("td", {}, r.trade_no ? el("code", {}, r.trade_no) : "–"),
      el("td", { "data-reason": "" }, r.reason),
      el("td", {}, r.ip || "–"),
      el("td", {}, String(r.status)))));
    return { total, pageSize: PAGE_SIZE };
  });

  list.reload();
  refused.reload();
})();
