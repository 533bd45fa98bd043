// The run page: tabs switched in place (the tab is ?tab= in the URL), the key filters of the overview and of the
// charts (?q= and ?metrics=), and a chart per metric key drawn with StudioMetricChart when it scrolls into view,
// with the settings (?x=, ?smoothing=, ?log=) shared by all charts and kept in the URL.
(function () {
  "use strict";

  const DEFAULT_TAB = "overview";

  // --- tabs --------------------------------------------------------------------------------------------------------

  function tabs() {
    return Array.from(document.querySelectorAll("[data-run-tabs] [data-tab]"));
  }

  function showTab(name, { push = false, focus = false } = {}) {
    const all = tabs();
    const tab = all.find((t) => t.dataset.tab === name) || all.find((t) => t.dataset.tab === DEFAULT_TAB);
    if (!tab) return;
    all.forEach((t) => {
      const selected = t === tab;
      t.setAttribute("aria-selected", String(selected));
      t.tabIndex = selected ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !selected;
    });
    if (focus) tab.focus();
    if (push) Studio.updateUrl({ tab: tab.dataset.tab === DEFAULT_TAB ? null : tab.dataset.tab }, { push: true });
    // Tab links carry the rest of the query string (settings, filters, the selected artifact): keep them current.
    tabLinks();
  }

  function tabLinks() {
    const current = new URL(window.location.href);
    tabs().forEach((t) => {
      const url = new URL(current);
      url.hash = "";
      if (t.dataset.tab === DEFAULT_TAB) url.searchParams.delete("tab");
      else url.searchParams.set("tab", t.dataset.tab);
      t.href = url.pathname + url.search;
    });
  }

  function startTabs() {
    const all = tabs();
    all.forEach((tab, index) => {
      tab.addEventListener("click", (event) => {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        if (tab.getAttribute("aria-selected") !== "true") showTab(tab.dataset.tab, { push: true });
      });
      // The tab pattern: arrows move between tabs, Home and End jump to the ends.
      tab.addEventListener("keydown", (event) => {
        const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: all.length - 1 };
        if (!(event.key in moves)) return;
        event.preventDefault();
        const next = all[(moves[event.key] + all.length) % all.length];
        showTab(next.dataset.tab, { push: true, focus: true });
      });
    });
    window.addEventListener("popstate", () => {
      showTab(new URL(window.location.href).searchParams.get("tab") || DEFAULT_TAB);
      readSettings();
    });
    // The overview's metric names open that metric's chart.
    document.querySelectorAll("[data-show-metric]").forEach((link) => {
      link.addEventListener("click", (event) => {
        const target = document.getElementById(link.dataset.showMetric);
        if (!target) return;
        event.preventDefault();
        showTab("metrics", { push: true });
        target.hidden = false;
        target.scrollIntoView({ block: "start" });
        const heading = target.querySelector("h3");
        if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
      });
    });
    tabLinks();
  }

  // --- key filters -------------------------------------------------------------------------------------------------

  function applyFilter(input, { updateUrl = true } = {}) {
    const scopes = document.querySelectorAll(input.dataset.keyFilter);
    const needle = input.value.trim().toLowerCase();
    let shown = 0;
    let total = 0;
    scopes.forEach((scope) => {
      scope.querySelectorAll("[data-filter-key]").forEach((row) => {
        const match = !needle || row.dataset.filterKey.includes(needle);
        row.hidden = !match;
        total += 1;
        shown += match ? 1 : 0;
      });
    });
    const status = input.form && input.form.querySelector("[data-key-filter-status]");
    if (status) status.textContent = needle ? shown + " of " + total + " match “" + input.value.trim() + "”" : "";
    if (updateUrl) {
      Studio.updateUrl({ [input.name]: input.value.trim() || null });
      tabLinks();
    }
  }

  function startFilters() {
    document.querySelectorAll("[data-key-filter]").forEach((input) => {
      const apply = Studio.debounce(() => applyFilter(input), 120);
      input.addEventListener("input", apply);
      input.form.addEventListener("submit", (event) => {
        event.preventDefault();
        applyFilter(input);
      });
      if (input.value) applyFilter(input, { updateUrl: false });
    });
  }

  // --- charts ------------------------------------------------------------------------------------------------------

  const charts = new Map(); // chart element -> mounted chart
  let settingsForm = null;

  function settings() {
    if (!settingsForm) return { x: "step", smoothing: 0, logY: false };
    return {
      x: settingsForm.elements.x.value,
      smoothing: Number(settingsForm.elements.smoothing.value) || 0,
      logY: settingsForm.elements.log.checked,
    };
  }

  const X_LABELS = { step: "step", wall: "wall time", relative: "relative time" };

  function settingsChanged() {
    const s = settings();
    settingsForm.querySelector("output").textContent = s.smoothing.toFixed(2);
    Studio.updateUrl({ x: s.x === "step" ? null : s.x, smoothing: s.smoothing ? s.smoothing.toFixed(2) : null, log: s.logY ? "1" : null });
    tabLinks();
    document.querySelectorAll("[data-metric-chart]").forEach((element) => {
      element.setAttribute("aria-label", "Chart of " + element.dataset.metricKey + " by " + X_LABELS[s.x]);
    });
    redrawCharts();
  }

  // A dragged slider sends many input events: redraw once per frame, with the latest settings.
  let redrawPending = false;
  function redrawCharts() {
    if (redrawPending) return;
    redrawPending = true;
    requestAnimationFrame(() => {
      redrawPending = false;
      const s = settings();
      charts.forEach((chart) => chart.update(s));
    });
  }

  // Back and forward restore the settings the URL had.
  function readSettings() {
    if (!settingsForm) return;
    const params = new URL(window.location.href).searchParams;
    const x = params.get("x");
    settingsForm.elements.x.value = ["step", "wall", "relative"].includes(x) ? x : "step";
    settingsForm.elements.smoothing.value = params.get("smoothing") || "0";
    settingsForm.elements.log.checked = ["1", "true", "on"].includes(params.get("log"));
    const s = settings();
    settingsForm.querySelector("output").textContent = s.smoothing.toFixed(2);
    redrawCharts();
  }

  function mountChart(element, run) {
    if (charts.has(element)) return;
    charts.set(element, StudioMetricChart.mount(element, Object.assign({ runs: [run], key: element.dataset.metricKey }, settings())));
  }

  function startCharts() {
    const grid = document.querySelector(".metric-grid[data-run-id]");
    settingsForm = document.querySelector("[data-chart-settings]");
    if (!grid || !settingsForm || !window.StudioMetricChart || !window.Plotly) return;
    const run = { id: grid.dataset.runId, name: grid.dataset.runName };
    // The slider redraws as it moves; the select and the checkbox once they change.
    settingsForm.addEventListener("input", (event) => { if (event.target.type === "range") settingsChanged(); });
    settingsForm.addEventListener("change", (event) => {
      if (event.target.dataset.setting && event.target.type !== "range") settingsChanged();
    });
    settingsForm.addEventListener("submit", (event) => event.preventDefault());
    const elements = grid.querySelectorAll("[data-metric-chart]");
    if (!("IntersectionObserver" in window)) {
      elements.forEach((element) => mountChart(element, run));
      return;
    }
    // Charts are drawn when they come near the viewport: a run with hundreds of keys asks only for what is seen.
    // Hidden ones (another tab, filtered out) never intersect, so they wait until they are shown.
    const observer = new IntersectionObserver((entries) => {
      entries.forEach((entry) => {
        if (!entry.isIntersecting) return;
        observer.unobserve(entry.target);
        mountChart(entry.target, run);
      });
    }, { rootMargin: "400px 0px" });
    elements.forEach((element) => observer.observe(element));
  }

  document.addEventListener("DOMContentLoaded", () => {
    startTabs();
    startFilters();
    startCharts();
  });
})();
