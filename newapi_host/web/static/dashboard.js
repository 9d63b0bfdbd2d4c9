// Dashboard: the user's balance and usage.
"use strict";
(function () {
  const { T, api, el, show, usd, perUnit, formData, onSubmit } = window.NA;
  async function loadDashboard() {
    const res = await api("GET", "/api/user/self");
    if (!res.success) return show(res.message);
    const set = (key, value) => (document.querySelector('[data-stat="' + key + '"]').textContent = value);
    set("balance", usd(res.data.quota));
    set("used_quota", usd(res.data.used_quota));
    set("request_count", res.data.request_count);
  }

  loadDashboard();
})();
