// What every page shares: the theme toggle, charts themed from the CSS variables, page state kept in the URL,
// JSON requests with Django's CSRF token, and a debounce for search-as-you-type.
(function () {
  "use strict";

  const themeListeners = [];

  function currentTheme() {
    return document.documentElement.dataset.theme === "dark" ? "dark" : "light";
  }

  function labelToggle(button) {
    const next = currentTheme() === "dark" ? "light" : "dark";
    button.setAttribute("aria-label", "Switch to " + next + " theme");
  }

  function setTheme(theme) {
    document.documentElement.dataset.theme = theme;
    try { localStorage.setItem("studio-theme", theme); } catch (e) { /* storage disabled */ }
    document.querySelectorAll("[data-theme-toggle]").forEach(labelToggle);
    themeListeners.forEach((listener) => listener(theme));
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // A Plotly layout in the page's colours; `extra` is merged in (one level deep for axes and legend).
  function chartLayout(extra) {
    const axis = { gridcolor: cssVar("--grid"), zerolinecolor: cssVar("--border"), linecolor: cssVar("--border") };
    const layout = {
      paper_bgcolor: cssVar("--bg"),
      plot_bgcolor: cssVar("--bg"),
      font: { color: cssVar("--fg"), family: getComputedStyle(document.body).fontFamily, size: 12 },
      margin: { l: 56, r: 16, t: 28, b: 44 },
      xaxis: Object.assign({}, axis),
      yaxis: Object.assign({}, axis),
      legend: { orientation: "h", y: -0.2 },
      hoverlabel: { bgcolor: cssVar("--bg-soft"), bordercolor: cssVar("--border"), font: { color: cssVar("--fg") } },
    };
    Object.entries(extra || {}).forEach(([key, value]) => {
      const merge = value && typeof value === "object" && !Array.isArray(value) && layout[key];
      layout[key] = merge ? Object.assign({}, layout[key], value) : value;
    });
    return layout;
  }

  // Re-colour a drawn chart when the theme changes (axes of any name keep their own settings).
  function themeChart(element) {
    onThemeChange(() => {
      if (!element.layout || !window.Plotly) return;
      const base = chartLayout();
      const update = { paper_bgcolor: base.paper_bgcolor, plot_bgcolor: base.plot_bgcolor, font: base.font, hoverlabel: base.hoverlabel };
      Object.keys(element.layout).filter((k) => /^[xy]axis\d*$/.test(k)).forEach((k) => {
        update[k + ".gridcolor"] = base.xaxis.gridcolor;
        update[k + ".zerolinecolor"] = base.xaxis.zerolinecolor;
        update[k + ".linecolor"] = base.xaxis.linecolor;
      });
      window.Plotly.relayout(element, update);
    });
  }

  function onThemeChange(listener) {
    themeListeners.push(listener);
  }

  // Page state lives in the URL: set (or, for null/"" values, remove) query parameters without reloading.
  function updateUrl(params, { push = false } = {}) {
    const url = new URL(window.location.href);
    Object.entries(params).forEach(([key, value]) => {
      if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) {
        url.searchParams.delete(key);
      } else {
        url.searchParams.set(key, Array.isArray(value) ? value.join(",") : value);
      }
    });
    (push ? history.pushState : history.replaceState).call(history, null, "", url);
    return url;
  }

  // The token for X-CSRFToken: base.html's <meta name="csrf-token">, else the csrftoken cookie, else a form's field.
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) return meta.content;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // fetch() for JSON: throws an Error carrying MLflow's message (and error_code) when the reply is not 2xx.
  async function fetchJSON(url, options = {}) {
    const init = Object.assign({ headers: {} }, options);
    init.headers = Object.assign({ Accept: "application/json" }, init.headers);
    if (init.body && typeof init.body !== "string") {
      init.body = JSON.stringify(init.body);
      init.headers["Content-Type"] = "application/json";
    }
    if (init.method && init.method !== "GET") init.headers["X-CSRFToken"] = csrfToken();
    const response = await fetch(url, init);
    const text = await response.text();
    let body = {};
    try { body = text ? JSON.parse(text) : {}; } catch (e) { body = { message: text }; }
    if (!response.ok) {
      const error = new Error(body.message || response.status + " " + response.statusText);
      error.code = body.error_code;
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function debounce(fn, ms) {
    let timer = null;
    return function (...args) {
      clearTimeout(timer);
      timer = setTimeout(() => fn.apply(this, args), ms);
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-theme-toggle]").forEach((button) => {
      labelToggle(button);
      button.addEventListener("click", () => setTheme(currentTheme() === "dark" ? "light" : "dark"));
    });
  });

  // data-confirm="question" on a form asks before it submits, on a link or button before its click goes through.
  // Listeners on the document, so rows fetched after the page loaded are covered too; the server acts only on POST.
  document.addEventListener("submit", (event) => {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener("click", (event) => {
    const element = event.target.closest && event.target.closest("a[data-confirm], button[data-confirm]");
    if (element && !window.confirm(element.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // A listing page's results swapped in place: fetch `url` as HTML (a newer call aborts an older one still on its
  // way), keep the focus on the header or pager link that had it ([data-listing-link]), localize its times, and put
  // `query` in the address bar (a history step when `push`). Resolves true once shown, false when superseded; throws
  // when the server did not answer with the results.
  const listingLoads = new WeakMap();

  async function loadListing(container, url, query, { push = false } = {}) {
    const previous = listingLoads.get(container);
    if (previous) previous.abort();
    const controller = new AbortController();
    listingLoads.set(container, controller);
    container.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(url, { signal: controller.signal, headers: { Accept: "text/html" } });
      if (!response.ok) throw new Error(response.status + " " + response.statusText);
      const html = await response.text();
      const active = document.activeElement;
      const focused = container.contains(active) ? active.dataset.listingLink : null;
      container.innerHTML = html;
      Studio.localizeTimes(container);
      if (focused) {
        const again = container.querySelector('[data-listing-link="' + focused + '"]') ||
          container.querySelector("[data-listing-link]");
        if (again) again.focus();
      }
      const address = new URL(window.location.href);
      address.search = query;
      (push ? history.pushState : history.replaceState).call(history, null, "", address);
      return true;
    } catch (error) {
      if (error.name === "AbortError") return false;
      throw error;
    } finally {
      if (listingLoads.get(container) === controller) {
        listingLoads.delete(container);
        container.removeAttribute("aria-busy");
      }
    }
  }

  // Put `text` on the clipboard; rejects when the browser refuses. Plain-HTTP servers on another host have no
  // clipboard API: then copy through a selected, off-screen text area.
  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen-copy";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    if (!ok) throw new Error("copy refused");
  }

  window.Studio = {
    chartLayout, themeChart, onThemeChange, currentTheme, updateUrl, fetchJSON, csrfToken, debounce, loadListing,
    copyText,
  };
})();

// <time datetime="..."> rendered in UTC by the server, shown in the reader's time zone.
document.addEventListener("DOMContentLoaded", () => Studio.localizeTimes(document));
window.Studio.localizeTimes = function (root) {
  const pad = (n) => String(n).padStart(2, "0");
  root.querySelectorAll("time[datetime]").forEach((element) => {
    const moment = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(moment.getTime())) return;
    element.title = element.getAttribute("datetime");
    element.textContent = moment.getFullYear() + "-" + pad(moment.getMonth() + 1) + "-" + pad(moment.getDate()) +
      " " + pad(moment.getHours()) + ":" + pad(moment.getMinutes()) + ":" + pad(moment.getSeconds());
  });
};
