// The Deploy dialog of a model version's page: into a new endpoint (created first; its two keys are shown once) or an
// existing one, through endpoints/create and deployments/create. Refusals are shown beside the field they concern.
(function () {
  "use strict";

  const D = window.Deployments;
  const COLOURS = ["blue", "green", "red", "yellow", "purple", "orange", "teal", "pink", "indigo", "amber", "lime",
    "cyan", "magenta", "olive", "coral", "violet"];

  // A model name as an endpoint name the API accepts: lower-case, dashes for the rest, 3 to 32 characters.
  function slugify(name) {
    let slug = name.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
    if (!/^[a-z]/.test(slug)) slug = "model-" + slug;
    slug = slug.slice(0, 32).replace(/-+$/, "");
    if (slug.length < 3) slug = (slug + "-endpoint").slice(0, 32);
    return slug;
  }

  function freeName(deployments) {
    const taken = new Set(deployments.map((d) => d.name));
    return COLOURS.find((c) => !taken.has(c)) || "deployment-" + (deployments.length + 1);
  }

  // Which field an API refusal is about (its message names it); the form's own error line otherwise.
  function fieldFor(message, creatingEndpoint) {
    if (creatingEndpoint) return "endpoint-name";
    if (/^Deployment '|deployment name/i.test(message)) return "name";
    if (/runtime/i.test(message)) return "runtime";
    if (/instances/i.test(message)) return "instances";
    if (/traffic|weight/i.test(message)) return "traffic";
    if (/^Endpoint '/.test(message)) return "endpoint";
    return null;
  }

  function start(dialog, opener) {
    const form = dialog.querySelector("[data-deploy-form]");
    dialog.querySelectorAll("[data-deploy-close]").forEach((button) =>
      button.addEventListener("click", () => dialog.close()));
    opener.hidden = false; // shown only where this script runs, so it is never a dead button
    opener.addEventListener("click", () => {
      dialog.showModal();
      if (form) load(dialog, form);
    });
    if (form) wire(dialog, form);
  }

  const state = { endpoints: [], nameEdited: false, keysShown: false };

  function field(form, name) {
    return form.querySelector("#deploy-" + name);
  }

  function errorOf(form, name) {
    return form.querySelector("#deploy-" + name + "-error");
  }

  function clearErrors(dialog) {
    dialog.querySelectorAll(".field-error").forEach((node) => D.showError(node, ""));
    dialog.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
  }

  function fail(form, name, message) {
    const control = name && field(form, name);
    const node = control ? errorOf(form, name) : form.querySelector("[data-deploy-error]");
    D.showError(node, message);
    if (control) {
      control.setAttribute("aria-invalid", "true");
      control.focus();
    }
  }

  function target(form) {
    return form.elements.target.value;
  }

  // Loaded each time the dialog opens: the runtimes this Studio runs and the endpoints there are now.
  async function load(dialog, form) {
    const runtime = field(form, "runtime");
    const select = field(form, "endpoint");
    const note = form.querySelector("[data-existing-note]");
    try {
      const [runtimes, endpoints] = await Promise.all([D.api("deployments/runtimes"), D.api("endpoints/list")]);
      const chosen = runtime.value;
      runtime.replaceChildren(...runtimes.runtimes.map((name) =>
        D.el("option", { value: name, selected: name === chosen }, name)));
      state.endpoints = endpoints.endpoints;
      const picked = select.value;
      select.replaceChildren(...state.endpoints.map((e) =>
        D.el("option", { value: e.name, selected: e.name === picked }, e.name + " (" + e.state + ")")));
      const none = !state.endpoints.length;
      form.querySelector("[data-existing-choice]").disabled = none;
      note.textContent = none ? "(there is none yet)" : "";
      if (none && target(form) === "existing") form.elements.target.value = "new";
      switchTarget(form);
    } catch (error) {
      fail(form, null, "Cannot load the runtimes and endpoints: " + error.message);
    }
  }

  function switchTarget(form) {
    const existing = target(form) === "existing";
    form.querySelector("[data-new-endpoint]").hidden = existing;
    form.querySelector("[data-existing-endpoint]").hidden = !existing;
    const traffic = field(form, "traffic");
    traffic.disabled = !existing;
    if (!existing) traffic.value = "100";
    else if (traffic.value === "100" && traffic.dataset.edited !== "true") traffic.value = "0";
    form.querySelector("[data-traffic-help]").textContent = existing
      ? "The share of the endpoint's requests it takes once healthy; the other deployments share the rest in " +
        "proportion. 0 keeps it out of the split (try it from the endpoint's Test console)."
      : "A new endpoint's first deployment takes all of its traffic.";
    if (!state.nameEdited) {
      const endpoint = state.endpoints.find((e) => e.name === field(form, "endpoint").value);
      field(form, "name").value = existing && endpoint ? freeName(endpoint.deployments) : "blue";
    }
  }

  function checkName(form, kind, name) {
    const problem = D.nameProblem(kind, field(form, name).value.trim());
    D.showError(errorOf(form, name), problem);
    if (problem) field(form, name).setAttribute("aria-invalid", "true");
    else field(form, name).removeAttribute("aria-invalid");
    return !problem;
  }

  function wire(dialog, form) {
    const endpointName = field(form, "endpoint-name");
    endpointName.value = slugify(dialog.dataset.model);
    form.querySelectorAll("input[name=target]").forEach((radio) =>
      radio.addEventListener("change", () => switchTarget(form)));
    field(form, "endpoint").addEventListener("change", () => switchTarget(form));
    field(form, "name").addEventListener("input", () => {
      state.nameEdited = true;
      checkName(form, "deployment", "name");
    });
    field(form, "traffic").addEventListener("input", () => { field(form, "traffic").dataset.edited = "true"; });
    endpointName.addEventListener("input", () => checkName(form, "endpoint", "endpoint-name"));
    dialog.addEventListener("cancel", (event) => {
      if (state.keysShown) event.preventDefault(); // the keys are never shown again: leave by the button that says so
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit(dialog, form);
    });
    D.copyButton(dialog.querySelector("[data-copy-key=primary]"),
      () => dialog.querySelector("[data-key=primary]").textContent, dialog.querySelector("[data-keys-status]"));
    D.copyButton(dialog.querySelector("[data-copy-key=secondary]"),
      () => dialog.querySelector("[data-key=secondary]").textContent, dialog.querySelector("[data-keys-status]"));
  }

  // The fields checked as the API checks them; null (with the errors shown) when one is wrong.
  function readForm(form) {
    const existing = target(form) === "existing";
    let ok = checkName(form, "deployment", "name");
    if (!existing) ok = checkName(form, "endpoint", "endpoint-name") && ok;
    const instances = Number(field(form, "instances").value);
    if (!Number.isInteger(instances) || instances < 1 || instances > 16) {
      fail(form, "instances", "Instances: a whole number from 1 to 16.");
      ok = false;
    }
    const traffic = existing ? Number(field(form, "traffic").value) : 100;
    if (!Number.isInteger(traffic) || traffic < 0 || traffic > 100) {
      fail(form, "traffic", "Traffic share: a whole number from 0 to 100.");
      ok = false;
    }
    if (existing && !field(form, "endpoint").value) {
      fail(form, "endpoint", "Choose an endpoint.");
      ok = false;
    }
    if (!field(form, "runtime").value) {
      fail(form, "runtime", "No runtime is available.");
      ok = false;
    }
    if (!ok) return null;
    return {
      existing,
      endpoint: existing ? field(form, "endpoint").value : field(form, "endpoint-name").value.trim(),
      name: field(form, "name").value.trim(),
      runtime: field(form, "runtime").value,
      instances,
      traffic,
    };
  }

  async function submit(dialog, form) {
    clearErrors(form);
    const values = readForm(form);
    if (!values) return;
    const button = form.querySelector("[data-deploy-submit]");
    button.disabled = true;
    button.textContent = "Deploying…";
    let created = null;
    try {
      if (!values.existing) {
        try {
          created = await D.api("endpoints/create", { method: "POST", body: { name: values.endpoint } });
        } catch (error) {
          fail(form, fieldFor(error.message, true), error.message);
          return;
        }
        showKeys(dialog, created);
      }
      try {
        await D.api("deployments/create", {
          method: "POST",
          body: {
            endpoint: values.endpoint, name: values.name, model_name: dialog.dataset.model,
            version: dialog.dataset.version, runtime: values.runtime, instances: values.instances,
            traffic_weight: values.traffic,
          },
        });
      } catch (error) {
        if (created) keepEndpoint(dialog, form, created.endpoint, error.message);
        if (state.keysShown) {
          dialog.querySelector("[data-keys-progress]").textContent = "";
          dialog.querySelector("[data-keys-continue]").hidden = false;
        }
        fail(form, fieldFor(error.message, false), error.message);
        return;
      }
      const url = dialog.dataset.endpointUrl.replace("ENDPOINT", encodeURIComponent(values.endpoint));
      if (created || state.keysShown) {
        form.hidden = true;
        D.showError(dialog.querySelector("[data-keys-error]"), "");
        dialog.querySelector("[data-keys-progress]").textContent = "Deployment " + values.name + " is created: " +
          "the endpoint's page shows it going live.";
        const go = dialog.querySelector("[data-keys-continue]");
        go.href = url;
        go.hidden = false;
        go.focus();
      } else {
        window.location.assign(url);
      }
    } finally {
      button.disabled = false;
      button.textContent = "Deploy";
    }
  }

  function showKeys(dialog, created) {
    state.keysShown = true;
    const section = dialog.querySelector("[data-deploy-keys]");
    section.querySelector("[data-keys-endpoint]").textContent = created.endpoint.name;
    section.querySelector("[data-key=primary]").textContent = created.primary_key;
    section.querySelector("[data-key=secondary]").textContent = created.secondary_key;
    const url = dialog.dataset.endpointUrl.replace("ENDPOINT", encodeURIComponent(created.endpoint.name));
    section.querySelector("[data-keys-continue]").href = url;
    dialog.querySelector("[data-deploy-close]").hidden = true;
    section.querySelector("[data-keys-progress]").textContent = "Deploying " + dialog.dataset.model + " version " +
      dialog.dataset.version + " into it…";
    section.hidden = false;
  }

  // The endpoint was created but its deployment refused: the keys stay on screen, the form now deploys into it.
  function keepEndpoint(dialog, form, endpoint, message) {
    D.showError(dialog.querySelector("[data-keys-error]"), "The endpoint exists, but the deployment was refused: " +
      message + " Correct the form below and deploy again into " + endpoint.name + ".");
    state.endpoints.push(endpoint);
    const select = field(form, "endpoint");
    select.append(D.el("option", { value: endpoint.name }, endpoint.name + " (" + endpoint.state + ")"));
    select.value = endpoint.name;
    form.querySelector("[data-existing-choice]").disabled = false;
    form.querySelector("[data-existing-note]").textContent = "";
    form.elements.target.value = "existing";
    const traffic = field(form, "traffic");
    switchTarget(form);
    traffic.value = "100"; // its first deployment: it takes all of the traffic whatever is asked
  }

  document.addEventListener("DOMContentLoaded", () => {
    const dialog = document.querySelector("[data-deploy-dialog]");
    const opener = document.querySelector("[data-deploy-open]");
    if (dialog && opener) start(dialog, opener);
  });
})();
