// Wallet: balance, redeem a code, online top-up through the enabled payment methods (an amount, or
// a Creem product), top-up and redemption history.
"use strict";
(function () {
  const { T, api, el, show, usd, onSubmit, emptyRow, pager } = window.NA;
  const PAGE_SIZE = 10;
  const fmt = (template, values) => template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  const when = (ts) => (ts ? new Date(ts * 1000).toLocaleString() : "–");

  let methods = [];
  let minTopup = 1;

  // -- balance ------------------------------------------------------------------------------------

  async function loadBalance() {
    const res = await api("GET", "/api/user/self");
    if (!res.success) return show(res.message);
    const set = (name, value) => (document.querySelector('[data-stat="' + name + '"]').textContent = value);
    set("quota", usd(res.data.quota));
    set("used_quota", usd(res.data.used_quota));
    set("request_count", String(res.data.request_count));
  }

  // -- redeem -------------------------------------------------------------------------------------

  onSubmit("redeem", async (form) => {
    const key = form.elements.key.value.trim();
    if (!key) return;
    const res = await api("POST", "/api/user/topup", { key });
    if (!res.success) return show(res.message);
    form.reset();
    show(fmt(T.wallet_redeemed, { amount: usd(res.data) }), true);
    await Promise.all([loadBalance(), redeemLog.reload()]);
  });

  // -- online top-up ------------------------------------------------------------------------------

  let allMethods = []; // with Creem, to name each order's currency

  /** The currency of an order: its pay type's method, else the plugin that opened it (Creem's products). */
  function currencyOf(order) {
    const m = allMethods.find((x) => x.id === order.payment_method) ||
      allMethods.find((x) => x.id === order.payment_provider);
    return m ? m.currency : "";
  }

  /** Send the browser to the payment page: a URL, or New API's Epay answer (form fields + `url`). */
  function goToPayment(res) {
    const safe = (u) => {
      try {
        const url = new URL(u, location.href);
        return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
      } catch (e) {
        return null;
      }
    };
    const data = res.data;
    if (typeof res.url === "string" && data && typeof data === "object" && safe(res.url)) {
      const form = el("form", { method: "POST", action: safe(res.url), hidden: true });
      for (const [k, v] of Object.entries(data)) form.append(el("input", { type: "hidden", name: k, value: String(v) }));
      document.body.append(form);
      form.submit();
      return true;
    }
    const target = typeof data === "string" ? data : data && (data.pay_link || data.url || data.checkout_url);
    if (target && safe(target)) {
      location.assign(safe(target));
      return true;
    }
    return false;
  }

  async function pay(method, buttons) {
    const form = document.querySelector('form[data-form="topup"]');
    const amount = Number(form.elements.amount.value);
    const least = Math.max(1, Number(method.min_topup) || minTopup); // a method's own minimum (StripeMinTopUp)
    if (!Number.isInteger(amount) || amount < least) {
      return show(fmt(T.wallet_below_min, { amount: "$" + least }));
    }
    show("");
    buttons.forEach((b) => (b.disabled = true));
    try {
      // Stripe has New API's own route (its unit price and minimum); the rest go through the host's.
      const path = method.id === "stripe" ? "/api/user/stripe/pay" : "/api/user/pay";
      const res = await api("POST", path, { amount, payment_method: method.id });
      if (!res.success) return show(res.message || T.request_failed);
      if (!goToPayment(res)) show(T.request_failed);
    } catch (e) {
      show(T.request_failed);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  /** Creem sells the products the admin listed (CreemProducts), each a fixed price and quota. */
  function showCreemProducts(info) {
    const box = document.querySelector("[data-creem]");
    const list = document.querySelector("[data-creem-products]");
    let listed = [];
    try {
      listed = JSON.parse(info.creem_products || "[]"); // New API sends the JSON text of CreemProducts
    } catch (e) {
      listed = [];
    }
    const products = (info.enable_creem_topup && Array.isArray(listed) ? listed : [])
      .filter((p) => p && typeof p.productId === "string" && p.productId);
    list.replaceChildren();
    box.hidden = !products.length;
    const buttons = products.map((p) => {
      const price = Number(p.price).toFixed(2) + " " + String(p.currency || "USD").toUpperCase();
      const quota = Number(p.quota) > 0 ? fmt(T.wallet_product_quota, { amount: usd(Number(p.quota)) }) : "";
      return el("button", { type: "button", "data-action": "creem", "data-product": p.productId },
        String(p.name || p.productId), el("small", {}, price), quota ? el("small", {}, quota) : "");
    });
    buttons.forEach((b, i) => b.addEventListener("click", async () => {
      show("");
      buttons.forEach((x) => (x.disabled = true));
      try {
        const res = await api("POST", "/api/user/creem/pay", { product_id: products[i].productId, payment_method: "creem" });
        if (!res.success) return show(res.message || T.request_failed);
        if (!goToPayment(res)) show(T.request_failed);
      } catch (e) {
        show(T.request_failed);
      } finally {
        buttons.forEach((x) => (x.disabled = false));
      }
    }));
    list.append(...buttons);
    return products.length > 0;
  }

  async function loadTopupInfo() {
    const state = document.querySelector("[data-topup-state]");
    const form = document.querySelector('form[data-form="topup"]');
    const res = await api("GET", "/api/user/topup/info");
    if (!res.success) {
      state.textContent = res.message || T.request_failed;
      return;
    }
    const info = res.data;
    // Creem sells fixed products (its own list below), not amounts.
    allMethods = info.pay_methods || [];
    methods = allMethods.filter((m) => m.type !== "creem");
    minTopup = Math.max(1, Number(info.min_topup) || 1);
    const products = showCreemProducts(info);
    if (!methods.length) {
      state.textContent = T.wallet_topup_unavailable;
      state.hidden = products;
      form.hidden = true;
      return;
    }
    state.hidden = true;
    form.hidden = false;
    form.addEventListener("submit", (ev) => ev.preventDefault());
    const amount = form.elements.amount;
    amount.min = String(minTopup);
    amount.value = String(Math.max(minTopup, (info.amount_options || [])[0] || minTopup));
    document.querySelector("[data-min-topup]").textContent = fmt(T.wallet_min_topup, { amount: "$" + minTopup });

    const presets = document.querySelector("[data-amount-options]");
    presets.replaceChildren();
    const discount = info.discount || {};
    for (const value of info.amount_options || []) {
      if (value < minTopup) continue;
      const off = discount[String(value)];
      const label = off && off < 1 ? fmt(T.wallet_discount, { percent: Math.round((1 - off) * 100) }) : "";
      presets.append(el("button", {
        type: "button", class: "secondary", "data-action": "amount", "data-amount": String(value),
        onclick: () => {
          amount.value = String(value);
          presets.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b.dataset.amount === String(value)));
        },
      }, "$" + value, label ? el("small", {}, label) : ""));
    }

    const box = document.querySelector("[data-pay-methods]");
    box.replaceChildren();
    const buttons = methods.map((m) => el("button", {
      type: "button", "data-action": "pay", "data-method": m.id,
    }, fmt(T.wallet_pay_with, { name: m.name })));
    buttons.forEach((b, i) => b.addEventListener("click", () => pay(methods[i], buttons)));
    box.append(...buttons);
  }

  // -- history tables -----------------------------------------------------------------------------

  /** A paged table: `url(page)` gives the API address, `row(item)` a <tr>; the pager is `data-pager=name`. */
  function pagedTable(name, url, row, emptyText) {
    const tbody = document.querySelector('[data-list="' + name + '"]');
    return pager(document.querySelector('[data-pager="' + name + '"]'), async (page) => {
      const res = await api("GET", url(page));
      if (!res.success) {
        emptyRow(tbody, res.message || T.request_failed);
        return null;
      }
      const { items, total } = res.data;
      if (!items.length) emptyRow(tbody, emptyText);
      else tbody.replaceChildren(...items.map(row));
      return { total, pageSize: PAGE_SIZE };
    });
  }

  const statusText = (s) => T["wallet_status_" + s] || s;

  const topups = pagedTable(
    "topups",
    (p) => "/api/user/topup/self?p=" + p + "&page_size=" + PAGE_SIZE,
    (t) => {
      const currency = currencyOf(t);
      return el("tr", { "data-id": t.id },
        el("td", {}, el("code", {}, t.trade_no)),
        el("td", {}, t.payment_method || "–"),
        el("td", {}, t.quota > 0 ? usd(t.quota) : "$" + t.amount),
        el("td", {}, Number(t.money).toFixed(2) + (currency ? " " + currency : "")),
        el("td", {}, el("span", { class: t.status === "success" ? "badge on" : "badge" }, statusText(t.status))),
        el("td", {}, when(t.create_time)),
        el("td", {}, when(t.complete_time)));
    },
    T.wallet_no_topups
  );

  const redeemLog = pagedTable(
    "topup-logs",
    (p) => "/api/log/self?type=1&p=" + p + "&page_size=" + PAGE_SIZE,
    (row) => el("tr", { "data-id": row.id },
      el("td", {}, when(row.created_at)),
      el("td", {}, row.content || "")),
    T.wallet_no_redemptions
  );

  loadBalance();
  // Methods first, so the history can name each order's currency.
  loadTopupInfo()
    .catch(() => show(T.request_failed))
    .finally(() => topups.reload());
  redeemLog.reload();
})();
