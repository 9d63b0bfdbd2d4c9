// API keys: list, create, enable/disable, delete, copy.
"use strict";
(function () {
  const { T, api, el, show, usd, perUnit, formData, onSubmit } = window.NA;
  async function loadTokens() {
    const tbody = document.querySelector('[data-list="tokens"]');
    const res = await api("GET", "/api/token/?p=1&page_size=50");
    if (!res.success) return show(res.message);
    tbody.replaceChildren();
    if (!res.data.items.length) tbody.append(el("tr", {}, el("td", { colspan: 5 }, T.no_keys)));
    for (const tok of res.data.items) {
      const on = tok.status === 1;
      const toggle = el("button", {
        type: "button", class: "secondary",
        onclick: async () => {
          const r = await api("PUT", "/api/token/?status_only=true", { id: tok.id, status: on ? 2 : 1 });
          if (!r.success) return show(r.message);
          show("");
          loadTokens();
        },
      }, on ? T.disable : T.enable);
      const remove = el("button", {
        type: "button", class: "danger",
        onclick: async () => {
          if (!confirm(T.confirm_delete)) return;
          const r = await api("DELETE", "/api/token/" + tok.id);
          if (!r.success) return show(r.message);
          show("");
          loadTokens();
        },
      }, T.delete);
      tbody.append(el("tr", {},
        el("td", {}, tok.name),
        el("td", {}, el("code", {}, tok.key)),
        el("td", {}, el("span", { class: on ? "badge on" : "badge" }, on ? T.enabled : T.disabled)),
        el("td", {}, tok.unlimited_quota ? T.unlimited : usd(tok.remain_quota)),
        el("td", {}, toggle, remove)));
    }
  }

  onSubmit("token", async (form) => {
    const unlimited = form.elements.unlimited_quota.checked;
    const res = await api("POST", "/api/token/", {
      name: form.elements.name.value,
      unlimited_quota: unlimited,
      remain_quota: unlimited ? 0 : Math.round(parseFloat(form.elements.remain_quota.value || "0") * perUnit),
      expired_time: -1,
    });
    if (!res.success) return show(res.message);
    const box = document.querySelector(".newkey");
    box.querySelector("[data-newkey]").textContent = res.data.key;
    box.hidden = false;
    form.reset();
    loadTokens();
  });

  const copyButton = document.querySelector("[data-copy]");
  if (copyButton) {
    copyButton.addEventListener("click", async () => {
      const key = document.querySelector("[data-newkey]").textContent;
      try {
        await navigator.clipboard.writeText(key);
      } catch (e) {
        const range = document.createRange();
        range.selectNodeContents(document.querySelector("[data-newkey]"));
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        document.execCommand("copy");
      }
      copyButton.textContent = T.copied;
      setTimeout(() => (copyButton.textContent = T.copy), 1500);
    });
  }

  loadTokens();
})();
