// The deployments list: one card per endpoint (state, scoring URL, last change, its deployments), drawn from
// endpoints/list's JSON (in the page at first, then polled every 2 s while any deployment is changing).
(function () {
  "use strict";

  const D = window.Deployments;
  const el = D.el;
  const POLL_MS = 2000;

  function lastChange(endpoint) {
    return Math.max(endpoint.last_updated_timestamp || 0,
      ...endpoint.deployments.map((d) => d.last_updated_timestamp || 0));
  }

  function deploymentRow(deployment) {
    return el("tr", { dataset: { deployment: deployment.name } },
      el("th", { scope: "row" }, deployment.name,
        deployment.mirror ? el("span", { class: "muted small" }, " mirror") : null),
      el("td", {}, el("a", { href: D.versionUrl(deployment.model_name, deployment.model_version) },
        deployment.model_name + " v" + deployment.model_version)),
      el("td", {}, D.badge(deployment.status)),
      el("td", { class: "num" }, deployment.traffic_weight + " %"),
      el("td", {}, deployment.runtime),
      el("td", { class: "num" }, String(deployment.instances)));
  }

  function deploymentsTable(endpoint) {
    if (!endpoint.deployments.length) {
      return el("p", { class: "muted" }, "No deployments: open a model version and choose Deploy to add one.");
    }
    const head = ["Deployment", "Model version", "Status", "Traffic", "Runtime", "Instances"].map((label, i) =>
      el("th", { scope: "col", class: i === 3 || i === 5 ? "num" : null }, label));
    return el("div", { class: "table-wrap" },
      el("table", { class: "data" },
        el("caption", { class: "visually-hidden" }, "Deployments of " + endpoint.name),
        el("thead", {}, el("tr", {}, head)),
        el("tbody", {}, endpoint.deployments.map(deploymentRow))));
  }

  function card(endpoint, urlTemplate) {
    const url = urlTemplate.replace("ENDPOINT", encodeURIComponent(endpoint.name));
    const headingId = "endpoint-" + endpoint.name;
    const attrs = { class: "panel endpoint-card", dataset: { endpoint: endpoint.name }, "aria-labelledby": headingId };
    return el("article", attrs,
      el("div", { class: "endpoint-card-head" },
        el("h2", { id: headingId }, el("a", { href: url }, endpoint.name)),
        D.badge(endpoint.state)),
      endpoint.description ? el("p", { class: "endpoint-description" }, endpoint.description) : null,
      el("dl", { class: "facts" },
        el("div", {}, el("dt", {}, "Scoring URL"),
          el("dd", {}, el("code", { class: "wrap-any" }, endpoint.scoring_url))),
        el("div", {}, el("dt", {}, "Last change"), el("dd", {}, D.time(lastChange(endpoint))))),
      deploymentsTable(endpoint));
  }

  function render(container, endpoints) {
    const focused = document.activeElement && container.contains(document.activeElement)
      ? document.activeElement.getAttribute("href") : null;
    container.replaceChildren(...endpoints.map((e) => card(e, container.dataset.endpointUrl)));
    document.querySelector("[data-empty]").hidden = endpoints.length > 0;
    if (focused) {
      const again = container.querySelector('a[href="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
  }

  function working(endpoints) {
    return endpoints.some((e) => e.state === "deleting" || e.deployments.some(D.isWorking));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const container = document.querySelector("[data-endpoints]");
    const status = document.querySelector("[data-list-status]");
    let endpoints = JSON.parse(document.getElementById("endpoints-data").textContent);
    render(container, endpoints);
    let first = true;
    const poll = D.poller(async () => {
      if (!first) {
        try {
          endpoints = (await D.api("endpoints/list")).endpoints;
        } catch (error) {
          status.textContent = "Cannot refresh: " + error.message;
          throw error;
        }
        render(container, endpoints);
      }
      first = false;
      const more = working(endpoints);
      status.textContent = more ? "Refreshing while deployments change…" : "";
      return more;
    }, POLL_MS);
    poll.now();
  });
})();
