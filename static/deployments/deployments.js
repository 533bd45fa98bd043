// What the deployments pages share: Studio's deployments REST API, names checked as the API checks them, badges
// for endpoint states and deployment statuses, copy buttons, and a poller that runs only while something is in
// progress and never on a hidden tab.
(function () {
  "use strict";

  const API = "/ajax-api/2.0/studio/";
  // A deployment in one of these is changing: the pages poll while any is.
  const WORKING = new Set(["queued", "building", "starting", "updating", "stopping", "deleting"]);
  // Deployments that hold a share of the traffic (deployments/services/changes.py's LIVE).
  const LIVE = new Set(["queued", "building", "starting", "healthy", "failed", "updating"]);
  const STATE_CLASS = {
    healthy: "ok", degraded: "warn", updating: "busy", deploying: "busy", unavailable: "error", stopped: "idle",
    empty: "idle", deleting: "busy",
    queued: "busy", building: "busy", starting: "busy", failed: "error", stopping: "busy",
  };
  const NAME = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;

  function api(path, options) {
    return Studio.fetchJSON(API + path, options);
  }

  function query(params) {
    return new URLSearchParams(params).toString();
  }

  // An element: el("a", {href: "/", class: "x", dataset: {id: 1}}, "text", child, ...); null/false children skipped.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    children.flat(Infinity).forEach((child) => {
      if (child === null || child === undefined || child === false) return;
      node.append(child instanceof Node ? child : String(child));
    });
    return node;
  }

  // Why a name is refused (the API's rule for endpoint and deployment names), or "" for a good one.
  function nameProblem(kind, name) {
    if (!name) return "Give the " + kind + " a name.";
    if (!NAME.test(name) || name.includes("--")) {
      return "Use 3 to 32 lower-case letters, digits and single dashes, starting with a letter and ending with a " +
        "letter or digit.";
    }
    return "";
  }

  function badge(state, label) {
    return el("span", { class: "badge state " + (STATE_CLASS[state] || ""), dataset: { state } }, label || state);
  }

  function setBadge(node, state) {
    node.className = "badge state " + (STATE_CLASS[state] || "");
    node.dataset.state = state;
    node.textContent = state;
  }

  function isWorking(deployment) {
    return WORKING.has(deployment.status);
  }

  function versionUrl(model, version) {
    return "/models/" + encodeURIComponent(model) + "/versions/" + encodeURIComponent(version) + "/";
  }

  // A <time> in UTC that Studio.localizeTimes shows in the reader's zone.
  function time(ms) {
    if (ms === null || ms === undefined) return "—";
    const node = el("time", { datetime: new Date(ms).toISOString() }, new Date(ms).toISOString());
    Studio.localizeTimes(el("div", {}, node));
    return node;
  }

  // "sk-abc1234…": the first characters the server keeps of a key.
  function keyPrefix(prefix) {
    return prefix ? prefix + "…" : "—";
  }

  // Show `message` in `node` (a .field-error next to the control that caused it); "" hides it.
  function showError(node, message) {
    if (!node) return;
    node.textContent = message || "";
    node.hidden = !message;
  }

  const copyText = Studio.copyText;

  // A button that copies what `source()` returns and says so in `status` (an aria-live element).
  function copyButton(button, source, status) {
    button.addEventListener("click", async () => {
      const label = button.textContent;
      try {
        await copyText(source());
        button.textContent = "Copied";
        if (status) status.textContent = "Copied to the clipboard.";
      } catch (error) {
        if (status) status.textContent = "The browser refused to copy; select the text and copy it.";
      }
      setTimeout(() => { button.textContent = label; }, 1500);
    });
    return button;
  }

  // Run `tick` now and then every `ms` for as long as it resolves true; a hidden tab pauses it, showing the tab
  // runs it again (when the last tick wanted more). `now()` runs it at once (after an action); ticks never overlap.
  function poller(tick, ms) {
    let timer = null;
    let running = false;
    let again = false;
    let wanted = true;

    async function run() {
      clearTimeout(timer);
      timer = null;
      if (running) { again = true; return; }
      running = true;
      try {
        wanted = await tick();
      } catch (error) {
        wanted = true; // Studio did not answer: try again at the next interval
      } finally {
        running = false;
      }
      if (again) { again = false; run(); return; }
      if (wanted && !document.hidden) timer = setTimeout(run, ms);
    }

    document.addEventListener("visibilitychange", () => {
      if (document.hidden) { clearTimeout(timer); timer = null; }
      else if (wanted && !running && timer === null) run();
    });
    return { now: run, get active() { return timer !== null || running; } };
  }

  window.Deployments = {
    API, WORKING, LIVE, api, query, el, nameProblem, badge, setBadge, isWorking, versionUrl, time, keyPrefix,
    showError, copyText, copyButton, poller,
  };
})();
