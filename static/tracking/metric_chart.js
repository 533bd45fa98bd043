// A metric chart: one key's history for one or more runs, as Plotly lines, drawn from Studio's sampled-series API.
//
//   const chart = StudioMetricChart.mount(element, {
//     runs: [{id, name, color?}],     // one line per run (the compare page overlays many)
//     key: "loss",
//     x: "step" | "wall" | "relative", // step; wall-clock time (local dates); seconds/minutes/hours since the run's
//                                      // first point of this key
//     smoothing: 0..0.99,              // exponential moving average weight, debiased as MLflow's and TensorBoard's
//     logY: false,                     // log scale on y
//     points: 500,                     // buckets asked per series (see below)
//     range: {start, end} | null,      // an initial zoom, in steps
//     onChange(state),                 // after the user zooms or resets: {key, x, smoothing, logY, range}
//   });
//   chart.update({x: "wall"});  chart.destroy();
//
// Charts of 2 to 12 runs have a legend below the plot; more runs have none (hovering a line names its run).
//
// Requests. Every draw is ONE request for all runs of the chart:
//   GET /ajax-api/2.0/studio/metrics/sample?run_ids=<id>&run_ids=<id>...&metric_keys=<key>&points=500
//       [&start_step=<a>&end_step=<b> when zoomed]
// (a POST with the same fields as JSON when the run list makes the URL longer than 4,000 characters). POINTS: the
// chart asks for `points` buckets per series, 500 unless the caller passes another number (the run page passes
// none, so a run page chart asks for 500 over the whole history: this is the request to benchmark); the server
// returns at most that many, each with the last point (step, timestamp, value) and min, max and count of its group.
// Zooming asks for 500 again over the zoomed step range, so that a range of at most 500 points comes back as the
// logged points themselves. In relative-time mode a sampled series also needs its first point's time: one more
// request per distinct first step (usually one), points=16 over that single step, made once per key.
(function () {
  "use strict";

  const SAMPLE_URL = "/ajax-api/2.0/studio/metrics/sample";
  const DEFAULT_POINTS = 500;
  const MAX_POINTS = 5000;
  const ORIGIN_POINTS = 16;
  const MAX_GET_URL = 4000;
  const X_MODES = ["step", "wall", "relative"];
  const MAX_SMOOTHING = 0.99;
  const LEGEND_MAX_RUNS = 12; // more runs than this: no legend (the hover label names the run)
  // Plotly's own colour cycle, so that the bands can take each line's colour with transparency.
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  function number(value) {
    return typeof value === "number" && Number.isFinite(value) ? value : null;
  }

  function rgba(hex, alpha) {
    const match = /^#?([0-9a-f]{6})$/i.exec(hex || "");
    if (!match) return hex;
    const n = parseInt(match[1], 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  // MLflow's smoothing: an exponential moving average with bias correction, so the first values are not pulled
  // towards zero; missing values (NaN) stay gaps and do not count.
  function ema(values, weight) {
    if (!(weight > 0) || values.length < 2) return values;
    let biased = 0;
    let seen = 0;
    return values.map((value) => {
      if (value === null) return null;
      biased = biased * weight + (1 - weight) * value;
      seen += 1;
      return biased / (1 - Math.pow(weight, seen));
    });
  }

  const pad = (n, width = 2) => String(n).padStart(width, "0");

  // Plotly shows date axes as given, without time zones: hand it the reader's local time.
  function localDate(ms) {
    const d = new Date(ms);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" +
      pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  }

  function parseLocalDate(value) {
    if (typeof value === "number") return value;
    const text = String(value).trim().replace(" ", "T");
    return new Date(text.includes("T") ? text : text + "T00:00").getTime();
  }

  const RELATIVE_UNITS = [
    { limit: 2 * 60, seconds: 1, label: "s" },
    { limit: 2 * 3600, seconds: 60, label: "min" },
    { limit: Infinity, seconds: 3600, label: "h" },
  ];

  function escapeText(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function normalize(options) {
    const o = Object.assign({}, options);
    o.runs = (o.runs || []).map((run) => ({ id: String(run.id), name: String(run.name || run.id), color: run.color }));
    o.key = String(o.key || "");
    o.x = X_MODES.includes(o.x) ? o.x : "step";
    const smoothing = Number(o.smoothing);
    o.smoothing = Number.isFinite(smoothing) ? Math.min(Math.max(smoothing, 0), MAX_SMOOTHING) : 0;
    o.logY = Boolean(o.logY);
    const points = parseInt(o.points, 10);
    o.points = points > 0 ? Math.min(points, MAX_POINTS) : DEFAULT_POINTS;
    return o;
  }

  function normalizeRange(range) {
    if (!range) return null;
    const start = Math.floor(Number(range.start));
    const end = Math.ceil(Number(range.end));
    return Number.isFinite(start) && Number.isFinite(end) && start <= end ? { start, end } : null;
  }

  const runsKey = (options) => options.runs.map((run) => run.id).join(",");

  class MetricChart {
    constructor(element, options) {
      this.element = element;
      this.options = normalize(options);
      this.range = normalizeRange(options.range);
      this.series = new Map(); // run id -> the wire series of the current request
      this.origins = new Map(); // run id -> first timestamp of the key (relative time)
      this.request = 0;
      this.controller = null;
      this.destroyed = false;
      this.relUnit = RELATIVE_UNITS[0];
      element.classList.add("metric-chart-host");
      this.plot = document.createElement("div");
      this.plot.className = "metric-chart-plot";
      this.message = document.createElement("p");
      this.message.className = "metric-chart-message muted small";
      this.summary = document.createElement("p");
      this.summary.className = "visually-hidden";
      this.summary.setAttribute("aria-live", "polite");
      element.replaceChildren(this.plot, this.message, this.summary);
      this.showMessage("Loading…");
      if (window.Studio) window.Studio.themeChart(this.plot);
      this.load();
    }

    state() {
      const o = this.options;
      return { key: o.key, x: o.x, smoothing: o.smoothing, logY: o.logY, range: this.range ? Object.assign({}, this.range) : null };
    }

    showMessage(text, isError = false) {
      this.message.textContent = text || "";
      this.message.hidden = !text;
      this.message.classList.toggle("field-error", Boolean(isError));
      this.message.setAttribute("role", isError ? "alert" : "status");
    }

    // One request for every run of the chart; a newer request makes an older one's answer moot.
    async fetchSample(runIds, { points, start, end, signal }) {
      const fields = { run_ids: runIds, metric_keys: [this.options.key], points };
      if (start !== null && start !== undefined) fields.start_step = start;
      if (end !== null && end !== undefined) fields.end_step = end;
      const query = new URLSearchParams();
      runIds.forEach((id) => query.append("run_ids", id));
      query.append("metric_keys", this.options.key);
      query.set("points", String(points));
      if (fields.start_step !== undefined) query.set("start_step", String(fields.start_step));
      if (fields.end_step !== undefined) query.set("end_step", String(fields.end_step));
      const url = SAMPLE_URL + "?" + query.toString();
      if (url.length <= MAX_GET_URL) return window.Studio.fetchJSON(url, { signal });
      return window.Studio.fetchJSON(SAMPLE_URL, { method: "POST", body: fields, signal });
    }

    async load() {
      const seq = ++this.request;
      if (this.controller) this.controller.abort();
      const controller = new AbortController();
      this.controller = controller;
      this.element.setAttribute("aria-busy", "true");
      try {
        const range = this.range || {};
        const body = await this.fetchSample(this.options.runs.map((run) => run.id), {
          points: this.options.points, start: range.start, end: range.end, signal: controller.signal,
        });
        if (seq !== this.request || this.destroyed) return;
        this.series = new Map((body.series || []).map((s) => [s.run_id, s]));
        if (this.options.x === "relative") await this.loadOrigins(seq, controller.signal);
        if (seq !== this.request || this.destroyed) return;
        this.draw();
      } catch (error) {
        if (error.name === "AbortError" || seq !== this.request || this.destroyed) return;
        this.showMessage("Could not load " + this.options.key + ": " + error.message, true);
      } finally {
        if (seq === this.request && !this.destroyed) this.element.removeAttribute("aria-busy");
      }
    }

    // The time of each run's first point of this key, for relative time. A whole, unsampled series has it in its
    // buckets; otherwise the points of its first step are asked for, one request per distinct first step.
    async loadOrigins(seq, signal) {
      const byStep = new Map();
      this.series.forEach((s, runId) => {
        if (this.origins.has(runId) || !s.buckets.length) return;
        const first = s.buckets[0];
        if (!this.range && !s.sampled) {
          this.origins.set(runId, Math.min(...s.buckets.filter((b) => b.step === first.step).map((b) => b.timestamp)));
          return;
        }
        if (!byStep.has(s.min_step)) byStep.set(s.min_step, []);
        byStep.get(s.min_step).push(runId);
      });
      for (const [step, runIds] of byStep) {
        try {
          const body = await this.fetchSample(runIds, { points: ORIGIN_POINTS, start: step, end: step, signal });
          if (seq !== this.request) return;
          (body.series || []).forEach((s) => {
            if (s.buckets.length) this.origins.set(s.run_id, Math.min(...s.buckets.map((b) => b.timestamp)));
          });
        } catch (error) {
          if (error.name === "AbortError") throw error;
          // Without it the first bucket's time is the best guess: off by at most one bucket's duration.
          runIds.forEach((id) => {
            const s = this.series.get(id);
            if (s && s.buckets.length) this.origins.set(id, s.buckets[0].timestamp);
          });
        }
      }
    }

    relativeUnit() {
      let span = 0;
      this.series.forEach((s, runId) => {
        const origin = this.origins.get(runId);
        if (s.buckets.length && origin !== undefined) span = Math.max(span, (s.buckets[s.buckets.length - 1].timestamp - origin) / 1000);
      });
      return RELATIVE_UNITS.find((unit) => span <= unit.limit);
    }

    xOf(bucket, runId) {
      if (this.options.x === "wall") return localDate(bucket.timestamp);
      if (this.options.x === "relative") {
        const origin = this.origins.has(runId) ? this.origins.get(runId) : bucket.timestamp;
        return (bucket.timestamp - origin) / 1000 / this.relUnit.seconds;
      }
      return bucket.step;
    }

    traces() {
      const o = this.options;
      const traces = [];
      o.runs.forEach((run, index) => {
        const s = this.series.get(run.id);
        if (!s || !s.buckets.length) return;
        const color = run.color || PALETTE[index % PALETTE.length];
        const x = s.buckets.map((b) => this.xOf(b, run.id));
        const values = s.buckets.map((b) => number(b.value));
        const common = { type: "scatter", x, legendgroup: run.id, connectgaps: false };
        if (s.sampled) {
          // The min-max band of each bucket: a transparent upper edge, then the lower edge filled up to it.
          traces.push(Object.assign({}, common, {
            y: s.buckets.map((b) => number(b.max)), mode: "lines", line: { width: 0, color }, hoverinfo: "skip", showlegend: false,
          }));
          traces.push(Object.assign({}, common, {
            y: s.buckets.map((b) => number(b.min)), mode: "lines", line: { width: 0, color }, fill: "tonexty",
            fillcolor: rgba(color, 0.2), hoverinfo: "skip", showlegend: false, name: run.name + " min–max",
          }));
        }
        if (o.smoothing > 0) {
          traces.push(Object.assign({}, common, { y: values, mode: "lines", line: { width: 1, color }, opacity: 0.3, hoverinfo: "skip", showlegend: false }));
        }
        const y = o.smoothing > 0 ? ema(values, o.smoothing) : values;
        let hover = "<b>%{fullData.name}</b><br>step %{customdata[0]}<br>value %{customdata[1]:.6g}";
        if (o.smoothing > 0) hover += "<br>smoothed %{y:.6g}";
        if (s.sampled) hover += "<br>min %{customdata[2]:.6g} · max %{customdata[3]:.6g}<br>%{customdata[4]} points";
        if (o.x !== "step") hover += "<br>%{x}" + (o.x === "relative" ? " " + this.relUnit.label : "");
        traces.push(Object.assign({}, common, {
          y, name: escapeText(run.name), mode: s.buckets.length === 1 ? "markers" : "lines",
          line: { width: 1.8, color }, marker: { color, size: 6 },
          customdata: s.buckets.map((b) => [b.step, number(b.value), number(b.min), number(b.max), b.count]),
          hovertemplate: hover + "<extra></extra>",
        }));
      });
      return traces;
    }

    legend() {
      const runs = this.options.runs.length;
      return runs > 1 && runs <= LEGEND_MAX_RUNS;
    }

    layout() {
      const o = this.options;
      const titles = { step: "Step", wall: "Wall time", relative: "Relative time (" + this.relUnit.label + ")" };
      return window.Studio.chartLayout({
        // Plotly keeps the user's zoom across redraws of the same revision; a new axis kind starts afresh.
        uirevision: o.key + "|" + o.x + "|" + o.logY,
        // A legend names a handful of runs; beyond LEGEND_MAX_RUNS it would crowd out the lines, and hovering a
        // line names its run anyway.
        showlegend: this.legend(),
        // Above the plot: below it the legend would sit on the x axis title.
        legend: { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom" },
        margin: { l: 60, r: 16, t: this.legend() ? 40 : 12, b: 44 },
        hovermode: "closest",
        xaxis: { title: { text: titles[o.x] }, type: o.x === "wall" ? "date" : "linear", automargin: true },
        yaxis: { title: { text: o.key }, type: o.logY ? "log" : "linear", automargin: true, exponentformat: "power" },
      });
    }

    draw() {
      // The unit of relative time follows the whole history's span, and stays while zoomed in so that the
      // zoomed range keeps meaning the same times.
      if (this.options.x === "relative" && !this.range) this.relUnit = this.relativeUnit();
      const traces = this.traces();
      if (!traces.length) {
        if (this.plot.data) window.Plotly.purge(this.plot);
        this.plot.hidden = true;
        this.showEmpty();
        return;
      }
      this.plot.hidden = false;
      this.showMessage("");
      const first = !this.plot.data;
      window.Plotly.react(this.plot, traces, this.layout(), {
        responsive: true, displaylogo: false, doubleClick: "reset", modeBarButtonsToRemove: ["lasso2d", "select2d", "toImage"],
      });
      if (first) this.plot.on("plotly_relayout", (event) => this.onRelayout(event));
      this.describe();
    }

    showEmpty() {
      const key = this.options.key;
      if (!this.range) {
        this.showMessage("Nothing logged for " + key + ".");
        return;
      }
      this.showMessage("No points of " + key + " in steps " + this.range.start + "–" + this.range.end + ". ");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.textContent = "Show all steps";
      button.addEventListener("click", () => this.setRange(null, { notify: true }));
      this.message.append(button);
    }

    describe() {
      const parts = [];
      this.series.forEach((s, runId) => {
        const run = this.options.runs.find((r) => r.id === runId);
        const last = s.buckets[s.buckets.length - 1];
        parts.push((run ? run.name : runId) + ": " + s.count + " points over steps " + s.min_step + "–" + s.max_step +
          (last ? ", last value " + last.value : "") + (s.sampled ? " (sampled to " + s.buckets.length + " groups)" : ""));
      });
      this.summary.textContent = this.options.key + (this.range ? ", steps " + this.range.start + "–" + this.range.end : "") + ". " + parts.join("; ");
    }

    // A zoom or pan names an x range; it becomes a step range fetched at the chart's full resolution. A reset
    // (double-click) fetches the whole history again.
    onRelayout(event) {
      if (!event || this.destroyed) return;
      if (event["xaxis.autorange"]) {
        if (this.range) this.setRange(null, { notify: true });
        return;
      }
      let x0 = event["xaxis.range[0]"];
      let x1 = event["xaxis.range[1]"];
      if (x0 === undefined && Array.isArray(event["xaxis.range"])) [x0, x1] = event["xaxis.range"];
      if (x0 === undefined || x1 === undefined) return;
      const range = this.stepRange(x0, x1);
      if (range) this.setRange(range, { notify: true });
    }

    stepRange(x0, x1) {
      const o = this.options;
      let lo = Infinity;
      let hi = -Infinity;
      this.series.forEach((s) => {
        lo = Math.min(lo, s.min_step);
        hi = Math.max(hi, s.max_step);
      });
      if (!Number.isFinite(lo)) return null;
      let start;
      let end;
      if (o.x === "step") {
        start = Math.floor(Number(x0));
        end = Math.ceil(Number(x1));
      } else {
        // Times map back to steps through the buckets drawn: from the bucket at or before the range's start to
        // the bucket at or after its end (metric time grows with the step).
        start = Infinity;
        end = -Infinity;
        this.series.forEach((s, runId) => {
          const toMs = (x) => (o.x === "wall" ? parseLocalDate(x) : Number(x) * 1000 * this.relUnit.seconds + (this.origins.get(runId) || 0));
          const t0 = toMs(x0);
          const t1 = toMs(x1);
          let before = s.min_step;
          let after = s.max_step;
          for (const b of s.buckets) {
            if (b.timestamp <= t0) before = b.step;
            if (b.timestamp >= t1) { after = b.step; break; }
          }
          start = Math.min(start, before);
          end = Math.max(end, after);
        });
      }
      start = Math.max(start, lo);
      end = Math.min(end, hi);
      if (!(start <= end)) return null;
      return start <= lo && end >= hi ? null : { start, end };
    }

    setRange(range, { notify = false } = {}) {
      const next = normalizeRange(range);
      const same = (next === null && this.range === null) ||
        (next && this.range && next.start === this.range.start && next.end === this.range.end);
      if (same) return;
      this.range = next;
      this.load();
      if (notify && typeof this.options.onChange === "function") this.options.onChange(this.state());
    }

    update(options) {
      if (this.destroyed) return;
      const previous = this.options;
      this.options = normalize(Object.assign({}, previous, options));
      const o = this.options;
      if (previous.key !== o.key) this.origins.clear();
      if ("range" in (options || {})) this.range = normalizeRange(options.range);
      const refetch = previous.key !== o.key || previous.points !== o.points || runsKey(previous) !== runsKey(o) ||
        ("range" in (options || {}));
      if (refetch) {
        this.load();
        return;
      }
      const missingOrigins = o.x === "relative" && [...this.series.keys()].some((id) => !this.origins.has(id));
      if (missingOrigins) {
        this.load();
        return;
      }
      if (this.series.size) this.draw();
    }

    destroy() {
      this.destroyed = true;
      this.request += 1;
      if (this.controller) this.controller.abort();
      if (window.Plotly && this.plot.data) window.Plotly.purge(this.plot);
      this.element.replaceChildren();
      this.element.removeAttribute("aria-busy");
      this.element.classList.remove("metric-chart-host");
    }
  }

  function mount(element, options) {
    const chart = new MetricChart(element, options || {});
    return {
      update: (next) => chart.update(next || {}),
      destroy: () => chart.destroy(),
      state: () => chart.state(),
    };
  }

  window.StudioMetricChart = { mount, ema, DEFAULT_POINTS };
})();
