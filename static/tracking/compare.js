// The compare page: overlaid metric curves (StudioMetricChart, one chart per chosen key, every run a line), a
// parallel-coordinates plot and a scatter of the params and metrics, and the table's "only differences" switch.
// The runs and their values come with the page (#compare-data); every choice is written back into the URL
// (?metrics= ?x= ?smoothing= ?log= ?axes= ?color= ?sx= ?sy= ?diff=), so a link shows the same comparison.
(function () {
  "use strict";

  const dataElement = document.getElementById("compare-data");
  if (!dataElement) return;
  const data = JSON.parse(dataElement.textContent);
  const runs = data.runs;
  const columns = new Map(data.columns.map((c) => [c.id, c]));
  const state = Object.assign({}, data.state);
  const MISSING_LABEL = "—";
  const GREY = "#9aa1ad";
  // Viridis, with a grey foot for the runs that did not log the colouring metric.
  const VIRIDIS = [[0, "#440154"], [0.25, "#3b528b"], [0.5, "#21918c"], [0.75, "#5ec962"], [1, "#fde725"]];
  const GREY_SHARE = 0.06;
  // Points per series of a curve: the whole chart stays near 40,000 points however many runs it overlays.
  const CURVE_POINTS = Math.max(60, Math.min(500, Math.floor(40000 / Math.max(runs.length, 1))));
  const PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d", "toImage"] };

  const escapeText = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const truncate = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);

  // A param and a metric may share a key: their labels then say which is which.
  const keyCount = new Map();
  data.columns.forEach((c) => keyCount.set(c.key, (keyCount.get(c.key) || 0) + 1));
  const label = (column) => (keyCount.get(column.key) > 1 ? column.key + " (" + column.kind + ")" : column.key);

  function runUrl(id) {
    return document.querySelector("[data-run-url]").dataset.runUrl.replace("RUN_ID", encodeURIComponent(id));
  }

  // --- the URL -----------------------------------------------------------------------------------------------------

  // Commas, colons and slashes stay readable in the query string (keys cannot hold commas).
  const encode = (value) => encodeURIComponent(value).replace(/%2C/gi, ",").replace(/%3A/gi, ":").replace(/%2F/gi, "/");

  const STATE_PARAMS = ["metrics", "x", "smoothing", "log", "axes", "color", "sx", "sy", "diff"];

  function writeUrl() {
    const url = new URL(window.location.href);
    const keep = [];
    url.searchParams.forEach((value, key) => {
      if (!STATE_PARAMS.includes(key)) keep.push([key, value]);
    });
    const pairs = keep.concat([
      ["metrics", state.curves.join(",")],
      ["x", state.x === "step" ? null : state.x],
      ["smoothing", state.smoothing ? Number(state.smoothing).toFixed(2) : null],
      ["log", state.log ? "1" : null],
      ["axes", state.axes.join(",")],
      ["color", state.color],
      ["sx", state.sx || null],
      ["sy", state.sy || null],
      ["diff", state.diff ? "1" : null],
    ]).filter(([, value]) => value !== null);
    url.search = pairs.map(([key, value]) => encode(key) + "=" + encode(value)).join("&");
    history.replaceState(null, "", url);
  }

  // --- pickers: checkbox lists that fold away ----------------------------------------------------------------------

  function startPicker(picker, onChange) {
    const boxes = () => Array.from(picker.querySelectorAll("input[type=checkbox]"));
    const count = picker.querySelector("[data-picker-count]");
    const changed = () => {
      const chosen = boxes().filter((box) => box.checked).map((box) => box.value);
      count.textContent = "(" + chosen.length + " chosen)";
      onChange(chosen);
    };
    picker.addEventListener("change", (event) => { if (event.target.type === "checkbox") changed(); });
    const filter = picker.querySelector("[data-picker-filter]");
    filter.addEventListener("input", () => {
      const needle = filter.value.trim().toLowerCase();
      picker.querySelectorAll("[data-picker-key]").forEach((item) => { item.hidden = Boolean(needle) && !item.dataset.pickerKey.includes(needle); });
    });
    // Enter in the filter must not submit the page's form.
    filter.addEventListener("keydown", (event) => { if (event.key === "Enter") event.preventDefault(); });
    picker.querySelector("[data-picker-all]").addEventListener("click", () => {
      boxes().forEach((box) => { if (!box.closest("[data-picker-key]").hidden) box.checked = true; });
      changed();
    });
    picker.querySelector("[data-picker-none]").addEventListener("click", () => {
      boxes().forEach((box) => { box.checked = false; });
      changed();
    });
    // Escape folds it and gives the focus back to its summary; a click elsewhere folds it.
    picker.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || !picker.open) return;
      picker.open = false;
      picker.querySelector("summary").focus();
    });
    document.addEventListener("click", (event) => { if (picker.open && !picker.contains(event.target)) picker.open = false; });
  }

  // --- overlaid metric curves --------------------------------------------------------------------------------------

  const curves = new Map(); // key -> {panel, element, chart}
  let curveObserver = null;

  function chartSettings() {
    return { x: state.x, smoothing: Number(state.smoothing) || 0, logY: Boolean(state.log) };
  }

  // The runs that logged a key (a metric's value is null when the run did not log it or logged NaN; a NaN-only run
  // has a series too, so both count as logged and the chart sorts it out).
  function curveRuns(key) {
    const column = columns.get("metric:" + key);
    return runs.filter((run, i) => column && column.logged[i]).map((run) => ({ id: run.id, name: run.name, color: run.color }));
  }

  function mountCurve(entry) {
    if (entry.chart) return;
    entry.chart = StudioMetricChart.mount(entry.element, Object.assign({ runs: curveRuns(entry.key), key: entry.key, points: CURVE_POINTS }, chartSettings()));
  }

  let curveCount = 0;

  function curvePanel(key) {
    const panel = document.createElement("section");
    panel.className = "panel metric-panel";
    const title = document.createElement("h3");
    title.className = "metric-title";
    curveCount += 1;
    title.id = "curve-title-" + curveCount;
    title.textContent = key;
    panel.setAttribute("aria-labelledby", title.id);
    const meta = document.createElement("p");
    meta.className = "muted small metric-meta";
    const logged = curveRuns(key).length;
    meta.textContent = logged + " of " + runs.length + " run" + (runs.length === 1 ? "" : "s") + " logged it";
    const element = document.createElement("div");
    element.className = "chart metric-chart";
    element.setAttribute("role", "figure");
    element.setAttribute("aria-label", "Chart of " + key + ", one line per run");
    element.dataset.curveKey = key;
    panel.append(title, meta, element);
    return { key, panel, element, chart: null };
  }

  function renderCurves() {
    const container = document.querySelector("[data-curves]");
    if (!container) return;
    curves.forEach((entry, key) => {
      if (state.curves.includes(key)) return;
      if (entry.chart) entry.chart.destroy();
      if (curveObserver) curveObserver.unobserve(entry.element);
      entry.panel.remove();
      curves.delete(key);
    });
    state.curves.forEach((key) => {
      let entry = curves.get(key);
      if (!entry) {
        entry = curvePanel(key);
        curves.set(key, entry);
        if (curveObserver) curveObserver.observe(entry.element);
      }
      container.append(entry.panel); // keeps the panels in the order of the keys
      if (!curveObserver) mountCurve(entry);
    });
    document.querySelector("[data-curves-empty]").hidden = state.curves.length > 0;
  }

  function startCurves() {
    const settings = document.querySelector("[data-curve-settings]");
    if (!settings) return;
    // Charts are drawn as they come near the viewport: dozens of chosen keys ask only for what is seen.
    if ("IntersectionObserver" in window) {
      curveObserver = new IntersectionObserver((entries) => {
        entries.forEach((item) => {
          if (!item.isIntersecting) return;
          curveObserver.unobserve(item.target);
          const entry = curves.get(item.target.dataset.curveKey);
          if (entry) mountCurve(entry);
        });
      }, { rootMargin: "400px 0px" });
    }
    startPicker(settings.querySelector("[data-picker]"), (chosen) => {
      state.curves = chosen;
      writeUrl();
      renderCurves();
    });
    const output = settings.querySelector("output");
    const apply = () => {
      const x = settings.querySelector("[data-setting=x]").value;
      const smoothing = Number(settings.querySelector("[data-setting=smoothing]").value) || 0;
      const log = settings.querySelector("[data-setting=log]").checked;
      Object.assign(state, { x, smoothing, log });
      output.textContent = smoothing.toFixed(2);
      writeUrl();
      curves.forEach((entry) => { if (entry.chart) entry.chart.update(chartSettings()); });
    };
    const applySoon = Studio.debounce(apply, 80);
    settings.addEventListener("input", (event) => {
      if (event.target.dataset.setting !== "smoothing") return;
      output.textContent = Number(event.target.value).toFixed(2);
      applySoon();
    });
    settings.addEventListener("change", (event) => { if (event.target.dataset.setting) apply(); });
    renderCurves();
  }

  // --- parallel coordinates ----------------------------------------------------------------------------------------

  // Round tick values for a numeric axis (1, 2 or 5 times a power of ten, about five of them).
  function niceTicks(lo, hi) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / 5;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
    return ticks;
  }

  const formatTick = (value) => Number(value.toPrecision(6)).toString();

  // Whole decades for a log axis, or its two ends when it spans less than one.
  function decadeTicks(lo, hi) {
    const ticks = [];
    for (let t = Math.ceil(lo - 1e-9); t <= hi + 1e-9; t += 1) ticks.push(t);
    return ticks.length >= 2 ? ticks : [lo, hi];
  }

  // A numeric column as an axis. Positive values spanning two decades or more (learning rates, weight decays)
  // go on a log axis, as parallel coordinates have no log type: the values become their log10, the ticks say the
  // values. Runs without a value sit on a "—" mark below the axis's range, as Plotly drops a line with a gap.
  function numericDimension(column) {
    const present = column.values.filter((v) => v !== null);
    const log = present.length > 1 && present.every((v) => v > 0) && Math.max(...present) / Math.min(...present) >= 100;
    const scaled = column.values.map((v) => (v === null || !log ? v : Math.log10(v)));
    const dimension = { label: truncate(label(column), 28) + (log ? " (log)" : ""), values: scaled };
    const missing = present.length < column.values.length;
    if (!missing && !log) return dimension;
    const shown = scaled.filter((v) => v !== null);
    const lo = shown.length ? Math.min(...shown) : 0;
    const hi = shown.length ? Math.max(...shown) : 1;
    const ticks = !shown.length ? [] : log ? decadeTicks(lo, hi) : niceTicks(lo, hi);
    dimension.tickvals = ticks;
    dimension.ticktext = ticks.map((t) => formatTick(log ? Math.pow(10, t) : t));
    if (missing) {
      const below = lo - (hi > lo ? (hi - lo) * 0.15 : 1);
      dimension.values = scaled.map((v) => (v === null ? below : v));
      dimension.tickvals.unshift(below);
      dimension.ticktext.unshift(MISSING_LABEL);
    }
    return dimension;
  }

  // A categorical column: each value a tick, in order, "—" first for the runs that did not log it.
  function categoricalDimension(column) {
    const categories = Array.from(new Set(column.values.filter((v) => v !== null).map(String))).sort();
    if (column.values.some((v) => v === null)) categories.unshift(MISSING_LABEL);
    const index = new Map(categories.map((c, i) => [c, i]));
    // Dozens of categories would print over each other: label about 25 of them.
    const every = Math.ceil(categories.length / 25);
    return {
      label: truncate(label(column), 28),
      values: column.values.map((v) => index.get(v === null ? MISSING_LABEL : String(v))),
      tickvals: categories.map((c, i) => i),
      ticktext: categories.map((c, i) => (i % every === 0 ? truncate(c, 18) : "")),
      range: [0, Math.max(categories.length - 1, 1)],
    };
  }

  // Lines coloured by a metric; runs without it are grey (the foot of the colour scale).
  function lineColors(key) {
    const column = columns.get("metric:" + key);
    if (!column) return { color: getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() };
    const present = column.values.filter((v) => v !== null);
    let lo = present.length ? Math.min(...present) : 0;
    let hi = present.length ? Math.max(...present) : 1;
    // One value for all: a scale around it, so that it takes the middle colour.
    if (!(hi > lo)) [lo, hi] = [lo - 0.5, hi + 0.5];
    const missing = present.length < column.values.length;
    const cmin = missing ? lo - ((hi - lo) * GREY_SHARE) / (1 - GREY_SHARE) : lo;
    const scale = missing
      ? [[0, GREY], [GREY_SHARE, GREY]].concat(VIRIDIS.map(([at, c]) => [GREY_SHARE + at * (1 - GREY_SHARE), c]))
      : VIRIDIS;
    return {
      color: column.values.map((v) => (v === null ? cmin : v)),
      colorscale: scale,
      cmin,
      cmax: hi,
      showscale: true,
      colorbar: { title: { text: truncate(key, 24), side: "right" }, thickness: 12, outlinewidth: 0 },
    };
  }

  function showMessage(selector, text) {
    const message = document.querySelector(selector);
    message.textContent = text || "";
    message.hidden = !text;
  }

  function drawParallel() {
    const element = document.querySelector("[data-parallel]");
    if (!element) return;
    const chosen = state.axes.map((id) => columns.get(id)).filter(Boolean);
    if (chosen.length < 2) {
      if (element.data) Plotly.purge(element);
      element.hidden = true;
      showMessage("[data-parallel-message]", "Pick at least two columns under “Columns” to draw the plot.");
      return;
    }
    element.hidden = false;
    const dimensions = chosen.map((c) => (c.numeric ? numericDimension(c) : categoricalDimension(c)));
    const colorColumn = state.color ? columns.get("metric:" + state.color) : null;
    const greyRuns = colorColumn ? colorColumn.values.filter((v) => v === null).length : 0;
    const notes = [];
    if (greyRuns) notes.push(greyRuns + " run" + (greyRuns === 1 ? "" : "s") + " without a value of " + state.color + " " + (greyRuns === 1 ? "is" : "are") + " grey.");
    if (dimensions.some((d) => d.ticktext && d.ticktext[0] === MISSING_LABEL)) notes.push("“" + MISSING_LABEL + "” on an axis: the run has no value for it.");
    showMessage("[data-parallel-message]", notes.join(" "));
    // Axis titles are tilted when there are many, so that long keys do not run into each other.
    const crowded = dimensions.length > Math.max(3, element.clientWidth / 130);
    const trace = {
      type: "parcoords",
      dimensions,
      line: lineColors(state.color),
      labelangle: crowded ? -25 : 0,
      labelside: "top",
      unselected: { line: { opacity: 0.08 } },
      // Plotly prints each axis's range at its ends in the axis's own units: the log10 of a log axis, the
      // position of the "—" mark. The ticks already say the values, so the range labels are left out.
      rangefont: { size: 1, color: "rgba(0,0,0,0)" },
    };
    const layout = Studio.chartLayout({ margin: { l: 70, r: colorColumn ? 40 : 50, t: crowded ? 90 : 56, b: 30 } });
    Plotly.react(element, [trace], layout, PLOT_CONFIG);
    element.setAttribute("aria-label", "Parallel coordinates of " + chosen.map((c) => c.key).join(", ") + (state.color ? ", lines coloured by " + state.color : "") + "; one line per run");
  }

  function startParallel() {
    const picker = document.querySelector("[data-picker=axes]");
    if (!picker) return;
    startPicker(picker, (chosen) => {
      state.axes = chosen;
      writeUrl();
      drawParallel();
    });
    document.querySelector("[data-state=color]").addEventListener("change", (event) => {
      state.color = event.target.value;
      writeUrl();
      drawParallel();
    });
    drawParallel();
  }

  // --- scatter -----------------------------------------------------------------------------------------------------

  function axisValue(column, value) {
    return column.numeric ? value : String(value);
  }

  function drawScatter() {
    const element = document.querySelector("[data-scatter]");
    if (!element) return;
    const cx = columns.get(state.sx);
    const cy = columns.get(state.sy);
    if (!cx || !cy) return;
    const points = runs.map((run, i) => ({ run, x: cx.values[i], y: cy.values[i] })).filter((p) => p.x !== null && p.y !== null);
    const left = runs.length - points.length;
    showMessage("[data-scatter-message]", left ? left + " run" + (left === 1 ? " has" : "s have") + " no value of " + (left === 1 ? "one" : "one or both") + " of the two and " + (left === 1 ? "is" : "are") + " not drawn." : "");
    const bg = getComputedStyle(document.documentElement).getPropertyValue("--bg").trim();
    const trace = {
      type: "scatter",
      mode: "markers",
      x: points.map((p) => axisValue(cx, p.x)),
      y: points.map((p) => axisValue(cy, p.y)),
      text: points.map((p) => escapeText(p.run.name)),
      customdata: points.map((p) => p.run.id),
      marker: { color: points.map((p) => p.run.color), size: runs.length > 50 ? 8 : 11, line: { width: 1, color: bg }, opacity: 0.9 },
      hovertemplate: "<b>%{text}</b><br>" + escapeText(label(cx)) + ": %{x}<br>" + escapeText(label(cy)) + ": %{y}<extra></extra>",
    };
    const axis = (column) => ({
      title: { text: escapeText(label(column)) },
      type: column.numeric ? "linear" : "category",
      categoryorder: "category ascending",
      automargin: true,
    });
    const layout = Studio.chartLayout({ hovermode: "closest", xaxis: axis(cx), yaxis: axis(cy), margin: { l: 64, r: 16, t: 16, b: 48 } });
    const first = !element.data;
    Plotly.react(element, [trace], layout, PLOT_CONFIG);
    if (first) element.on("plotly_click", (event) => {
      const point = event && event.points && event.points[0];
      if (point && point.customdata) window.location.href = runUrl(point.customdata);
    });
    element.setAttribute("aria-label", "Scatter of " + label(cy) + " against " + label(cx) + ", " + points.length + " run" + (points.length === 1 ? "" : "s"));
  }

  function startScatter() {
    ["sx", "sy"].forEach((name) => {
      const select = document.querySelector("[data-state=" + name + "]");
      if (!select) return;
      select.addEventListener("change", () => {
        state[name] = select.value;
        writeUrl();
        drawScatter();
      });
    });
    drawScatter();
  }

  // --- the table ---------------------------------------------------------------------------------------------------

  function startTable() {
    const box = document.querySelector("[data-only-diff]");
    const table = document.querySelector("[data-compare-table]");
    if (!box || !table) return;
    box.addEventListener("change", () => {
      state.diff = box.checked;
      table.classList.toggle("only-diff", box.checked);
      writeUrl();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    // The form is for pages without JavaScript; here every control acts at once.
    const form = document.getElementById("compare-form");
    if (form) form.addEventListener("submit", (event) => event.preventDefault());
    startTable();
    if (!window.Plotly) return;
    // The curves first, so that their requests are under way while the rest draws; the parallel coordinates
    // last and after a first paint: WebGL without a GPU takes a second or more for it, and the page is already
    // usable meanwhile.
    if (window.StudioMetricChart) startCurves();
    startScatter();
    requestAnimationFrame(() => setTimeout(startParallel, 0));
    // Charts drawn by this page take the new theme's colours by being drawn again.
    Studio.onThemeChange(() => {
      drawParallel();
      drawScatter();
    });
  });
})();
