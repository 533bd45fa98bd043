// An endpoint's page: its state, keys, deployments (stop, start, update, delete), traffic split and mirror, the
// events and logs of each deployment, and the Test console, all through Studio's deployments REST API. It polls
// endpoints/get (and the events after the last one it has) every 2 s while a deployment is changing, and never on a
// hidden tab; every refusal of the API is shown next to the control that asked.
(function () {
  "use strict";

  const D = window.Deployments;
  const el = D.el;
  const POLL_MS = 2000;

  const page = {
    name: "",
    endpoint: null,
    examples: {},
    gone: false,
    drawn: "", // the deployments as last drawn (JSON), so an unchanged poll leaves the table (and focus) alone
    seen: new Map(), // deployment -> last_updated_timestamp whose events were fetched
    lastEvent: new Map(), // deployment -> id of the last event shown
    traffic: { dirty: false, key: "", mirror: "", weights: {} },
    errors: new Map(), // deployment -> an action's refusal, shown under its row until the next action
  };

  const $ = (selector, root) => (root || document).querySelector(selector);

  // --- header, description, keys -------------------------------------------------------------------------------

  function renderHeader() {
    const endpoint = page.endpoint;
    D.setBadge($("[data-endpoint-state]"), endpoint.state);
    $("[data-key-prefix=primary]").textContent = D.keyPrefix(endpoint.primary_key_prefix);
    $("[data-key-prefix=secondary]").textContent = D.keyPrefix(endpoint.secondary_key_prefix);
    $("[data-description]").textContent = endpoint.description;
    $("[data-description]").hidden = !endpoint.description;
    $("[data-no-description]").hidden = !!endpoint.description;
  }

  function startDescription() {
    const form = $("[data-description-form]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $("#endpoint-description-error");
      D.showError(error, "");
      try {
        const reply = await D.api("endpoints/update", {
          method: "POST", body: { name: page.name, description: form.elements.description.value },
        });
        page.endpoint = reply.endpoint;
        renderHeader();
        $("[data-description-editor]").open = false;
        status("Saved the description.");
      } catch (failure) {
        D.showError(error, failure.message);
      }
    });
  }

  function startKeys() {
    document.querySelectorAll("[data-regenerate]").forEach((button) => {
      button.addEventListener("click", async () => {
        const slot = button.dataset.regenerate;
        const error = $("[data-regenerate-error]");
        D.showError(error, "");
        button.disabled = true;
        try {
          const body = { name: page.name, key: slot };
          const reply = await D.api("endpoints/regenerate-key", { method: "POST", body });
          $("[data-new-key-slot]").textContent = slot;
          $("[data-new-key-value]").textContent = reply.key;
          $("[data-new-key]").hidden = false;
          poll.now();
        } catch (failure) {
          D.showError(error, failure.message);
        } finally {
          button.disabled = false;
        }
      });
    });
  }

  function startCopies() {
    const copied = $("[data-copy-status]");
    document.querySelectorAll("[data-copy-from]").forEach((button) =>
      D.copyButton(button, () => document.getElementById(button.dataset.copyFrom).textContent, copied));
  }

  function startDeleteEndpoint() {
    const button = $("[data-delete-endpoint]");
    button.addEventListener("click", async () => {
      const error = $("[data-delete-endpoint-error]");
      D.showError(error, "");
      button.disabled = true;
      try {
        await D.api("endpoints/delete", { method: "POST", body: { name: page.name } });
        window.location.assign($("[data-endpoint-page]").dataset.listUrl);
      } catch (failure) {
        D.showError(error, failure.message);
        button.disabled = false;
      }
    });
  }

  // --- deployments table ---------------------------------------------------------------------------------------

  function actionButton(action, label, deployment, extra) {
    return el("button", Object.assign({
      type: "button", class: "small", dataset: { action, deployment: deployment.name },
      "aria-label": label + " " + deployment.name,
    }, extra || {}), label);
  }

  function actions(deployment) {
    const status = deployment.status;
    const deleting = status === "deleting";
    return [
      D.LIVE.has(status) ? actionButton("stop", "Stop", deployment) : null,
      status === "stopped" || status === "failed" ? actionButton("start", "Start", deployment) : null,
      actionButton("update", "Update", deployment, {
        disabled: !["healthy", "failed", "stopped"].includes(status),
        title: ["healthy", "failed", "stopped"].includes(status) ? null : "Wait until it is " +
          "healthy, failed or stopped",
      }),
      actionButton("delete", "Delete", deployment, {
        class: "small danger", disabled: deleting,
        "data-confirm": "Delete deployment " + deployment.name + " (" + deployment.model_name + " v" +
          deployment.model_version + ")? Its servers are removed and its traffic goes to the other deployments.",
      }),
    ];
  }

  function deploymentRows(deployment) {
    const row = el("tr", { dataset: { deployment: deployment.name } },
      el("th", { scope: "row" }, deployment.name),
      el("td", { class: "status-cell" }, D.badge(deployment.status),
        deployment.status_message && deployment.status_message.toLowerCase() !== deployment.status
          ? el("span", { class: "muted small status-message" }, " " + deployment.status_message) : null),
      el("td", {}, el("a", { href: D.versionUrl(deployment.model_name, deployment.model_version) },
        deployment.model_name + " v" + deployment.model_version)),
      el("td", {}, deployment.runtime),
      el("td", { class: "num" }, String(deployment.instances)),
      el("td", { class: "num", dataset: { traffic: deployment.name } },
        deployment.mirror ? "mirror" : deployment.traffic_weight + " %"),
      el("td", { class: "row-actions" }, actions(deployment)));
    const error = page.errors.get(deployment.name);
    if (!error) return [row];
    return [row, el("tr", { class: "row-error" },
      el("td", { colspan: "7" }, el("p", { class: "field-error", role: "alert" }, error)))];
  }

  function renderDeployments(force) {
    const deployments = page.endpoint.deployments;
    const drawn = JSON.stringify([deployments, [...page.errors]]);
    if (drawn === page.drawn && !force) return;
    page.drawn = drawn;
    const container = $("[data-deployments]");
    const active = document.activeElement;
    const focus = active && container.contains(active) && active.dataset.action
      ? [active.dataset.action, active.dataset.deployment] : null;
    if (!deployments.length) {
      container.replaceChildren(el("p", { class: "muted" }, "No deployments: this endpoint answers 503 until one " +
        "is healthy."));
      return;
    }
    const head = ["Deployment", "Status", "Model version", "Runtime", "Instances", "Traffic", "Actions"].map(
      (label, i) => el("th", { scope: "col", class: i === 4 || i === 5 ? "num" : null }, label));
    container.replaceChildren(el("div", { class: "table-wrap" },
      el("table", { class: "data deployments" },
        el("caption", { class: "visually-hidden" }, "Deployments of " + page.name),
        el("thead", {}, el("tr", {}, head)),
        el("tbody", {}, deployments.map(deploymentRows)))));
    if (focus) {
      const again = container.querySelector('[data-action="' + focus[0] + '"][data-deployment="' +
        CSS.escape(focus[1]) + '"]');
      (again && !again.disabled ? again : container.querySelector("[data-action]:not([disabled])") || container)
        .focus();
    }
  }

  async function act(action, name) {
    page.errors.delete(name);
    if (action === "update") {
      openUpdate(page.endpoint.deployments.find((d) => d.name === name));
      return;
    }
    const button = $('[data-action="' + action + '"][data-deployment="' + CSS.escape(name) + '"]');
    if (button) button.disabled = true;
    try {
      await D.api("deployments/" + action, { method: "POST", body: { endpoint: page.name, name } });
      status((action === "delete" ? "Deleting " : action === "stop" ? "Stopping " : "Starting ") + name + "…");
    } catch (failure) {
      page.errors.set(name, failure.message);
      renderDeployments(true);
    }
    poll.now();
  }

  function startDeployments() {
    $("[data-deployments]").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (button && !button.disabled) act(button.dataset.action, button.dataset.deployment);
    });
  }

  // --- update dialog -------------------------------------------------------------------------------------------

  function filterFor(model) {
    return model.includes("'") ? 'name="' + model.replace(/"/g, '\\"') + '"' : "name='" + model + "'";
  }

  async function openUpdate(deployment) {
    if (!deployment) return;
    const dialog = $("[data-update-dialog]");
    const form = $("[data-update-form]");
    dialog.dataset.deployment = deployment.name;
    $("[data-update-name]").textContent = deployment.name;
    $("[data-update-model]").textContent = deployment.model_name;
    form.elements.instances.value = deployment.instances;
    dialog.querySelectorAll(".field-error").forEach((node) => D.showError(node, ""));
    const select = form.elements.version;
    select.replaceChildren(el("option", { value: "" }, "Loading…"));
    dialog.showModal();
    try {
      const reply = await Studio.fetchJSON("/ajax-api/2.0/mlflow/model-versions/search?" +
        D.query({ filter: filterFor(deployment.model_name), max_results: 1000 }));
      const versions = (reply.model_versions || []).sort((a, b) => Number(b.version) - Number(a.version));
      const current = deployment.model_version;
      const pick = (versions.find((v) => v.version !== current) || versions[0] || {}).version;
      select.replaceChildren(...versions.map((v) => el("option", { value: v.version, selected: v.version === pick },
        "Version " + v.version + (v.version === current ? " (deployed now)" : "") +
        (v.current_stage && v.current_stage !== "None" ? " · " + v.current_stage : "") +
        (v.aliases && v.aliases.length ? " · @" + v.aliases.join(", @") : ""))));
      if (!versions.length) select.replaceChildren(el("option", { value: "" }, "No versions"));
    } catch (failure) {
      select.replaceChildren();
      D.showError($("#update-version-error"), "Cannot list the versions of " + deployment.model_name + ": " +
        failure.message);
    }
  }

  function startUpdate() {
    const dialog = $("[data-update-dialog]");
    const form = $("[data-update-form]");
    $("[data-update-close]").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      dialog.querySelectorAll(".field-error").forEach((node) => D.showError(node, ""));
      const name = dialog.dataset.deployment;
      const version = form.elements.version.value;
      const instances = Number(form.elements.instances.value);
      if (!version) return D.showError($("#update-version-error"), "Choose a version.");
      if (!Number.isInteger(instances) || instances < 1 || instances > 16) {
        return D.showError($("#update-instances-error"), "Instances: a whole number from 1 to 16.");
      }
      const button = $("[data-update-submit]");
      button.disabled = true;
      try {
        await D.api("deployments/update", { method: "POST", body: { endpoint: page.name, name, version, instances } });
        dialog.close();
        status("Updating " + name + " to version " + version + "…");
        poll.now();
      } catch (failure) {
        const target = /instances/i.test(failure.message) ? "#update-instances-error"
          : /version/i.test(failure.message) ? "#update-version-error" : "[data-update-error]";
        D.showError($(target), failure.message);
      } finally {
        button.disabled = false;
      }
    });
  }

  // --- traffic -------------------------------------------------------------------------------------------------

  function live() {
    return page.endpoint.deployments.filter((d) => D.LIVE.has(d.status));
  }

  function trafficKey() {
    return JSON.stringify(live().map((d) => [d.name, d.traffic_weight, d.mirror]));
  }

  function sliderRow(name, weight) {
    const id = "traffic-" + name;
    const range = el("input", { type: "range", id, min: "0", max: "100", step: "1", value: String(weight),
      dataset: { weight: name } });
    const number = el("input", { type: "number", min: "0", max: "100", step: "1", value: String(weight),
      class: "traffic-number", "aria-label": "Traffic of " + name + " in percent", dataset: { weightNumber: name } });
    range.addEventListener("input", () => { number.value = range.value; changed(name, range.value); });
    number.addEventListener("input", () => { range.value = number.value; changed(name, number.value); });
    return el("div", { class: "traffic-row" }, el("label", { for: id }, name), range, number,
      el("span", { class: "muted" }, "%"));
  }

  function changed(name, value) {
    page.traffic.dirty = true;
    page.traffic.weights[name] = Number(value);
    updateSum();
  }

  function expectedSum() {
    return live().some((d) => d.name !== page.traffic.mirror) ? 100 : 0;
  }

  function updateSum() {
    const names = live().filter((d) => d.name !== page.traffic.mirror).map((d) => d.name);
    const values = names.map((n) => page.traffic.weights[n]);
    const sum = values.reduce((a, b) => a + (Number.isFinite(b) ? b : NaN), 0);
    const whole = values.every((v) => Number.isInteger(v) && v >= 0 && v <= 100);
    const expected = expectedSum();
    const ok = whole && sum === expected;
    const node = $("[data-traffic-sum]");
    node.textContent = "Total: " + (Number.isNaN(sum) ? "—" : sum + " %") +
      (ok ? "" : " — the shares must be whole numbers that sum to " + expected + " % before you can save.");
    node.classList.toggle("bad", !ok);
    $("[data-traffic-save]").disabled = !ok || !page.traffic.dirty;
    $("[data-traffic-reset]").disabled = !page.traffic.dirty;
  }

  function renderSliders() {
    const names = live().filter((d) => d.name !== page.traffic.mirror).map((d) => d.name);
    $("[data-traffic-sliders]").replaceChildren(...names.map((n) => sliderRow(n, page.traffic.weights[n] || 0)));
    updateSum();
  }

  function renderTraffic(force) {
    const key = trafficKey();
    if (key === page.traffic.key && !force) return; // unchanged: keep what is being edited (and the focus)
    const deployments = live();
    if (key !== page.traffic.key) D.showError($("[data-traffic-error]"), ""); // a refusal of an older split
    page.traffic = {
      dirty: false, key,
      mirror: (deployments.find((d) => d.mirror) || {}).name || "",
      weights: Object.fromEntries(deployments.map((d) => [d.name, d.traffic_weight])),
    };
    const form = $("[data-traffic-form]");
    const panel = $("[data-traffic-panel]");
    let empty = $("[data-traffic-empty]", panel);
    if (!empty) {
      empty = el("p", { class: "muted", dataset: { trafficEmpty: "" } }, "No live deployment: there is no traffic " +
        "to split. Start or deploy one.");
      panel.append(empty);
    }
    empty.hidden = deployments.length > 0;
    form.hidden = deployments.length === 0;
    const mirror = $("[data-traffic-mirror]");
    mirror.replaceChildren(el("option", { value: "" }, "None"),
      ...deployments.map((d) => el("option", { value: d.name, selected: d.name === page.traffic.mirror }, d.name)));
    renderSliders();
  }

  function startTraffic() {
    const form = $("[data-traffic-form]");
    $("[data-traffic-mirror]").addEventListener("change", (event) => {
      const previous = page.traffic.mirror;
      page.traffic.mirror = event.target.value;
      page.traffic.weights[page.traffic.mirror] = 0; // a mirror takes copies, not a share
      if (previous) page.traffic.weights[previous] = page.traffic.weights[previous] || 0;
      page.traffic.dirty = true;
      renderSliders();
    });
    $("[data-traffic-reset]").addEventListener("click", () => {
      D.showError($("[data-traffic-error]"), "");
      renderTraffic(true);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $("[data-traffic-error]");
      D.showError(error, "");
      const traffic = {};
      live().filter((d) => d.name !== page.traffic.mirror).forEach((d) => {
        traffic[d.name] = page.traffic.weights[d.name];
      });
      const save = $("[data-traffic-save]");
      save.disabled = true;
      try {
        const reply = await D.api("endpoints/update", {
          method: "POST", body: { name: page.name, traffic, mirror: page.traffic.mirror },
        });
        page.endpoint = reply.endpoint;
        renderAll(true);
        status("Saved the traffic split.");
        poll.now();
      } catch (failure) {
        await poll.now(); // catch up with what changed meanwhile (the refusal often says what), then say why
        D.showError(error, failure.message);
        updateSum();
      }
    });
  }

  // --- events and logs -----------------------------------------------------------------------------------------

  function activitySection(name) {
    const id = "activity-" + name;
    return el("section", { class: "activity", dataset: { activity: name }, "aria-labelledby": id },
      el("h3", { id }, name),
      el("div", { class: "grid-2" },
        el("div", { class: "activity-events" },
          el("h4", {}, "Events"),
          el("div", { class: "table-wrap scroll-y" },
            el("table", { class: "data events" },
              el("caption", { class: "visually-hidden" }, "Events of " + name),
              el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Time"), el("th", { scope: "col" }, "Kind"),
                el("th", { scope: "col" }, "Message"))),
              el("tbody", { dataset: { events: name } }))),
          el("p", { class: "field-error", role: "alert", hidden: true, dataset: { eventsError: name } })),
        el("div", { class: "activity-logs" },
          el("div", { class: "logs-head" }, el("h4", {}, "Server logs"),
            el("button", { type: "button", class: "small", dataset: { logsRefresh: name },
              "aria-label": "Refresh the server logs of " + name }, "Refresh")),
          el("pre", { class: "logs", tabindex: "0", "aria-label": "Server logs of " + name, dataset: { logs: name } },
            "…"),
          el("p", { class: "field-error", role: "alert", hidden: true, dataset: { logsError: name } }))));
  }

  function eventRow(event) {
    return el("tr", { dataset: { eventId: String(event.id), kind: event.kind } },
      el("td", {}, D.time(event.timestamp)),
      el("td", {}, el("span", { class: "badge kind-" + event.kind }, event.kind)),
      el("td", { class: "wrap" }, event.message,
        event.details ? el("details", { class: "event-details" }, el("summary", {}, "Details"),
          el("pre", {}, event.details)) : null));
  }

  function renderActivity() {
    const container = $("[data-activity]");
    const names = page.endpoint.deployments.map((d) => d.name);
    container.querySelectorAll("[data-activity]").forEach((section) => {
      if (!names.includes(section.dataset.activity)) {
        section.remove();
        page.seen.delete(section.dataset.activity);
        page.lastEvent.delete(section.dataset.activity);
      }
    });
    names.forEach((name, index) => {
      let section = container.querySelector('[data-activity="' + CSS.escape(name) + '"]');
      if (!section) section = activitySection(name);
      if (container.children[index] !== section) container.insertBefore(section, container.children[index] || null);
    });
    $("[data-no-activity]").hidden = names.length > 0;
  }

  async function loadEvents(name) {
    const error = $('[data-events-error="' + CSS.escape(name) + '"]');
    try {
      for (;;) {
        const reply = await D.api("deployments/events?" + D.query({
          endpoint: page.name, name, after: page.lastEvent.get(name) || 0, limit: 500,
        }));
        const body = $('[data-events="' + CSS.escape(name) + '"]');
        if (!body) return;
        // Follow new events when the reader is at the end of the list (the list scrolls, never the page).
        const wrap = body.closest(".table-wrap");
        const atEnd = wrap.scrollTop + wrap.clientHeight >= wrap.scrollHeight - 4;
        reply.events.forEach((event) => {
          body.append(eventRow(event));
          page.lastEvent.set(name, event.id);
        });
        if (reply.events.length && atEnd) wrap.scrollTop = wrap.scrollHeight;
        D.showError(error, "");
        if (reply.events.length < 500) return;
      }
    } catch (failure) {
      if (failure.status !== 404) D.showError(error, "Cannot read the events: " + failure.message);
    }
  }

  async function loadLogs(name) {
    const pre = $('[data-logs="' + CSS.escape(name) + '"]');
    const error = $('[data-logs-error="' + CSS.escape(name) + '"]');
    try {
      const reply = await D.api("deployments/logs?" + D.query({ endpoint: page.name, name, tail: 200 }));
      if (!pre) return;
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent = reply.logs || "(no output yet)";
      if (atEnd) pre.scrollTop = pre.scrollHeight;
      D.showError(error, "");
    } catch (failure) {
      if (failure.status !== 404) D.showError(error, "Cannot read the logs: " + failure.message);
    }
  }

  function startActivity() {
    $("[data-activity]").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-logs-refresh]");
      if (button) loadLogs(button.dataset.logsRefresh);
    });
  }

  // --- Test console ----------------------------------------------------------------------------------------------

  function renderTargets() {
    const select = $("[data-console-target]");
    const chosen = select.value;
    const names = page.endpoint.deployments.filter((d) => d.status !== "deleting").map((d) => d.name);
    select.replaceChildren(el("option", { value: "" }, "By traffic"),
      ...names.map((n) => el("option", { value: n, selected: n === chosen }, n)));
  }

  function startConsole() {
    const form = $("[data-console]");
    const body = form.elements.body;
    const initial = body.value;
    let filled = body.value; // the example the console last put in; a request the user typed is never replaced
    form.elements.deployment.addEventListener("change", () => {
      if (body.value !== filled) return;
      filled = page.examples[form.elements.deployment.value] || initial;
      body.value = filled;
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const bodyError = $("#console-body-error");
      D.showError(bodyError, "");
      body.removeAttribute("aria-invalid");
      try {
        JSON.parse(body.value);
      } catch (error) {
        body.setAttribute("aria-invalid", "true");
        D.showError(bodyError, "The request is not valid JSON: " + error.message);
        return;
      }
      const send = $("[data-console-send]");
      send.disabled = true;
      const headers = {
        "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": Studio.csrfToken(),
      };
      if (form.elements.deployment.value) headers["X-Studio-Deployment"] = form.elements.deployment.value;
      const started = performance.now();
      try {
        const response = await fetch(D.API + "endpoints/" + encodeURIComponent(page.name) + "/invocations",
          { method: "POST", headers, body: body.value });
        const text = await response.text();
        showResult(response, text, performance.now() - started);
      } catch (error) {
        showResult(null, "", performance.now() - started, "Studio did not answer: " + error.message);
      } finally {
        send.disabled = false;
      }
    });
  }

  function showResult(response, text, ms, failure) {
    const result = $("[data-console-result]");
    result.hidden = false;
    $("[data-result-status]").textContent = response ? response.status + " " + response.statusText : "—";
    $("[data-result-status]").className = response && response.ok ? "ok" : "bad";
    $("[data-result-latency]").textContent = Math.round(ms) + " ms";
    $("[data-result-deployment]").textContent = (response && response.headers.get("X-Studio-Deployment")) || "—";
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (error) { parsed = null; }
    $("[data-result-body]").textContent = parsed !== null ? JSON.stringify(parsed, null, 2) : text;
    let message = failure || "";
    if (!message && response && !response.ok) {
      message = parsed && parsed.message ? (parsed.error_code ? parsed.error_code + ": " : "") + parsed.message
        : "The request failed with " + response.status + ".";
    }
    D.showError($("[data-result-error]"), message);
  }

  // --- refresh -------------------------------------------------------------------------------------------------

  function status(text) {
    $("[data-page-status]").textContent = text;
  }

  function renderAll(forceTraffic) {
    renderHeader();
    renderDeployments();
    renderTraffic(forceTraffic);
    renderTargets();
    renderActivity();
  }

  async function tick() {
    if (page.gone) return false;
    try {
      page.endpoint = (await D.api("endpoints/get?" + D.query({ name: page.name }))).endpoint;
    } catch (failure) {
      if (failure.status === 404) {
        page.gone = true;
        status("This endpoint no longer exists.");
        return false;
      }
      status("Cannot refresh: " + failure.message);
      throw failure;
    }
    renderAll(false);
    const working = page.endpoint.deployments.filter(D.isWorking);
    await Promise.all(page.endpoint.deployments.map((d) => {
      const fresh = page.seen.get(d.name) !== d.last_updated_timestamp || D.isWorking(d);
      page.seen.set(d.name, d.last_updated_timestamp);
      return Promise.all([fresh ? loadEvents(d.name) : null, fresh ? loadLogs(d.name) : null]);
    }));
    const more = working.length > 0 || page.endpoint.state === "deleting";
    if (more) status("Refreshing while " + working.map((d) => d.name + " is " + d.status).join(", ") + "…");
    else if (/…$/.test($("[data-page-status]").textContent)) status("");
    return more;
  }

  let poll = null;

  document.addEventListener("DOMContentLoaded", () => {
    const root = $("[data-endpoint-page]");
    if (!root) return;
    page.name = root.dataset.name;
    page.endpoint = JSON.parse(document.getElementById("endpoint-data").textContent);
    page.examples = JSON.parse(document.getElementById("examples-data").textContent);
    renderAll(true);
    startDescription();
    startKeys();
    startCopies();
    startDeleteEndpoint();
    startDeployments();
    startUpdate();
    startTraffic();
    startActivity();
    startConsole();
    poll = D.poller(tick, POLL_MS);
    poll.now();
  });
})();
