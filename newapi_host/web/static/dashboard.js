// Dashboard: the account's balance and usage, the system notice, and the consumption over a chosen
// range by model and by hour (or day), from the hourly sums of GET /api/data/self (never the logs).
"use strict";
(function () {
  const { T, api, el, show, usd, perUnit } = window.NA;

  const HOUR = 3600;
  const MAX_SPAN = 30 * 86400; // the API answers at most one month at a time
  const SPANS = { "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };
  const PALETTE = [
    "#2f6fed", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16", "#f97316", "#64748b",
  ];
  const OTHER_COLOR = "#c4cad4";
  const OTHER = "\u0000other"; // a key no model name can equal

  const form = document.querySelector('form[data-form="dashboard-range"]');
  const chartBox = document.querySelector('[data-chart="time"]');
  const modelsBox = document.querySelector('[data-chart="models"]');
  const svg = document.querySelector("[data-chart-svg]");
  const NS = svg.namespaceURI; // the HTML parser put it in the SVG namespace

  const setStat = (key, value) => (document.querySelector('[data-stat="' + key + '"]').textContent = value);
  const num = (n) => Number(n || 0).toLocaleString();
  const pad = (n) => String(n).padStart(2, "0");

  /** USD with at least 2 and up to 6 decimals, so small amounts do not show as $0.00. */
  function money(quota) {
    return usd(quota, 6).replace(/(\.\d\d\d*?)0+$/, "$1");
  }

  /** A Date as a datetime-local value (local time, minutes). */
  function inputValue(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" +
      pad(date.getHours()) + ":" + pad(date.getMinutes());
  }

  function seconds(value) {
    const ms = value ? new Date(value).getTime() : NaN;
    return isNaN(ms) ? NaN : Math.floor(ms / 1000);
  }

  function setRange(span) {
    const now = new Date();
    form.elements.end.value = inputValue(now);
    form.elements.start.value = inputValue(new Date(now.getTime() - span * 1000));
  }

  // -- account totals and notice ------------------------------------------------------------------

  async function loadAccount() {
    const res = await api("GET", "/api/user/self");
    if (!res.success) return show(res.message);
    setStat("balance", usd(res.data.quota));
    setStat("used_quota", usd(res.data.used_quota));
    setStat("request_count", num(res.data.request_count));
  }

  async function loadNotice() {
    const box = document.querySelector("[data-notice]");
    const res = await api("GET", "/api/notice");
    const notice = res && res.success && typeof res.data === "string" ? res.data.trim() : "";
    box.querySelector("[data-notice-text]").textContent = notice;
    box.hidden = !notice;
  }

  // -- buckets ------------------------------------------------------------------------------------

  /** Period starts (unix seconds) covering [start, end], by hour or by local day, and a row's period. */
  function periods(start, end, byDay) {
    const out = [];
    if (!byDay) {
      for (let t = start - (start % HOUR); t <= end; t += HOUR) out.push(t);
      return { list: out, of: (ts) => ts - (ts % HOUR) };
    }
    const dayOf = (ts) => {
      const d = new Date(ts * 1000);
      d.setHours(0, 0, 0, 0);
      return Math.floor(d.getTime() / 1000);
    };
    const d = new Date(dayOf(start) * 1000);
    while (d.getTime() / 1000 <= end) {
      out.push(Math.floor(d.getTime() / 1000));
      d.setDate(d.getDate() + 1);
    }
    return { list: out, of: dayOf };
  }

  function periodLabel(ts, byDay) {
    const d = new Date(ts * 1000);
    const day = pad(d.getMonth() + 1) + "-" + pad(d.getDate());
    return byDay ? d.getFullYear() + "-" + day : day + " " + pad(d.getHours()) + ":00";
  }

  // -- chart --------------------------------------------------------------------------------------

  function svgEl(tag, attrs, ...children) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const c of children) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  function niceStep(max, count) {
    const raw = max / count;
    const pow = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / pow;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * pow;
  }

  /** Stacked bars: one per period, one segment per series (in legend order), y in USD. */
  function drawChart(list, byDay, series, cells) {
    const W = 900, H = 320, L = 72, R = 12, TOP = 12, B = 44;
    const plotW = W - L - R, plotH = H - TOP - B;
    const cell = (t, key) => (cells.get(t) || {})[key];
    const totals = list.map((t) => series.reduce((sum, s) => sum + (cell(t, s.key) ? cell(t, s.key).quota : 0), 0));
    const maxUsd = Math.max(0, ...totals) / perUnit;
    const step = maxUsd > 0 ? niceStep(maxUsd, 4) : 0.25;
    const top = Math.max(step, Math.ceil(maxUsd / step - 1e-9) * step);
    const digits = Math.min(6, Math.max(2, Math.ceil(-Math.log10(step))));
    const y = (v) => TOP + plotH - (v / top) * plotH;

    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.replaceChildren();
    for (let v = 0; v <= top + step / 2; v += step) {
      svg.append(
        svgEl("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        svgEl("text", { class: "axis", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, "$" + v.toFixed(digits)));
    }

    const bw = plotW / list.length;
    const gap = bw > 4 ? bw * 0.15 : 0;
    const every = Math.ceil(list.length / 8);
    list.forEach((t, i) => {
      const x = L + i * bw;
      const when = periodLabel(t, byDay);
      let base = TOP + plotH;
      const group = svgEl("g", { "data-period": t });
      for (const s of series) {
        const c = cell(t, s.key);
        if (!c || c.quota <= 0) continue;
        const h = (c.quota / perUnit / top) * plotH;
        base -= h;
        group.append(svgEl("rect", {
          x: x + gap, y: base, width: Math.max(bw - 2 * gap, 0.5), height: h, fill: s.color, "data-model": s.name,
        }, svgEl("title", {}, when + " · " + s.name + "\n" + T.quota_usd + ": " + money(c.quota) + "\n" +
          T.request_count + ": " + num(c.count) + "\n" + T.dash_tokens + ": " + num(c.tokens))));
      }
      svg.append(group);
      if (i % every === 0) {
        const nearEnd = x + bw / 2 > W - R - 40; // keep the last label inside the picture
        svg.append(svgEl("text", {
          class: "axis", x: nearEnd ? W - R : x + bw / 2, y: H - B + 16, "text-anchor": nearEnd ? "end" : "middle",
        }, when));
      }
    });
    svg.append(svgEl("line", { class: "base", x1: L, x2: W - R, y1: TOP + plotH, y2: TOP + plotH }));

    const legend = document.querySelector("[data-legend]");
    legend.replaceChildren(...series.map((s) => {
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = s.color;
      return el("li", { "data-model": s.name }, swatch, s.name);
    }));
  }

  // -- by model -----------------------------------------------------------------------------------

  function drawModels(models, total) {
    const tbody = document.querySelector('[data-list="dashboard-models"]');
    const byCount = total.quota <= 0; // free usage only: share of requests instead
    tbody.replaceChildren(...models.map((m) => {
      const share = byCount ? (total.count ? m.count / total.count : 0) : m.quota / total.quota;
      const bar = el("span", { class: "share-bar" });
      bar.style.width = (share * 100).toFixed(1) + "%";
      bar.style.background = m.color;
      return el("tr", { "data-model": m.name },
        el("td", {}, m.name),
        el("td", {}, num(m.count)),
        el("td", {}, num(m.tokens)),
        el("td", {}, money(m.quota)),
        el("td", {}, el("div", { class: "share" },
          el("span", { class: "share-track" }, bar), (share * 100).toFixed(1) + "%")));
    }));
  }

  // -- range --------------------------------------------------------------------------------------

  async function loadRange() {
    const start = seconds(form.elements.start.value);
    const end = seconds(form.elements.end.value);
    if (isNaN(start) || isNaN(end) || end <= start) return show(T.dash_range_invalid);
    if (end - start > MAX_SPAN) return show(T.dash_range_too_long);
    // Rows are hourly buckets stamped with the hour's start: begin at the hour so the first one counts.
    let from = start - (start % HOUR);
    if (end - from > MAX_SPAN) from += HOUR;
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    let res;
    try {
      res = await api("GET", "/api/data/self?" + new URLSearchParams({
        start_timestamp: String(from), end_timestamp: String(end),
      }));
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
    if (!res.success) return show(res.message);
    show("");
    render(res.data || [], from, end, form.elements.granularity.value === "day");
  }

  function render(rows, from, end, byDay) {
    const total = { quota: 0, count: 0, tokens: 0 };
    const perModel = new Map();
    for (const r of rows) {
      total.quota += r.quota;
      total.count += r.count;
      total.tokens += r.token_used;
      const m = perModel.get(r.model_name) || { name: r.model_name, quota: 0, count: 0, tokens: 0 };
      m.quota += r.quota;
      m.count += r.count;
      m.tokens += r.token_used;
      perModel.set(r.model_name, m);
    }
    setStat("range_quota", money(total.quota));
    setStat("range_count", num(total.count));
    setStat("range_tokens", num(total.tokens));
    const empty = rows.length === 0;
    document.querySelector("[data-empty]").hidden = !empty;
    chartBox.hidden = empty;
    modelsBox.hidden = empty;
    if (empty) return;

    // Biggest spenders first; past the palette, the rest share one "other" colour in the chart.
    const models = [...perModel.values()].sort((a, b) => b.quota - a.quota || b.count - a.count);
    const named = models.length > PALETTE.length ? PALETTE.length - 1 : models.length;
    models.forEach((m, i) => (m.color = i < named ? PALETTE[i] : OTHER_COLOR));
    const series = models.slice(0, named).map((m) => ({ key: m.name, name: m.name, color: m.color }));
    if (named < models.length) series.push({ key: OTHER, name: T.dash_other_models, color: OTHER_COLOR });
    const inSeries = new Set(series.map((s) => s.key));

    const { list, of } = periods(from, end, byDay);
    const cells = new Map();
    for (const r of rows) {
      const t = of(r.created_at);
      const key = inSeries.has(r.model_name) ? r.model_name : OTHER;
      const row = cells.get(t) || {};
      const c = row[key] || (row[key] = { quota: 0, count: 0, tokens: 0 });
      c.quota += r.quota;
      c.count += r.count;
      c.tokens += r.token_used;
      cells.set(t, row);
    }
    drawChart(list, byDay, series, cells);
    drawModels(models, total);
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    loadRange().catch(() => show(T.request_failed));
  });
  form.querySelectorAll("[data-range]").forEach((b) =>
    b.addEventListener("click", () => {
      setRange(SPANS[b.dataset.range]);
      loadRange().catch(() => show(T.request_failed));
    })
  );

  setRange(SPANS["24h"]);
  loadAccount();
  loadNotice();
  loadRange().catch(() => show(T.request_failed));
})();
