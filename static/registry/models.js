// The models page: results follow the name search as the user types and the tag box when it changes (a
// server-rendered fragment fetched after a pause, with `q` and `tag` kept in the URL); sort headers and the pager swap
// the results the same way. A model's page: the rename dialog, and its address kept after a refused form.
(function () {
  "use strict";

  // --- a model's page ----------------------------------------------------------------------------------------------
  const head = document.getElementById("model-head");
  if (head) {
    // A refused form is answered at its own address (/models/x/aliases/); show the model's address instead, so that
    // a reload does not post again and a shared link leads to the model.
    if (window.location.pathname !== head.dataset.pageUrl) {
      history.replaceState(null, "", head.dataset.pageUrl + window.location.hash);
    }
    const openModal = (dialog, focus) => {
      if (dialog.open) dialog.close();
      dialog.showModal();
      const input = focus || dialog.querySelector("input[type=text]");
      if (input) { input.focus(); input.select(); }
    };
    document.addEventListener("click", (event) => {
      const opener = event.target.closest("[data-open-dialog]");
      if (opener) openModal(document.getElementById(opener.dataset.openDialog));
      const closer = event.target.closest("[data-close-dialog]");
      if (closer) closer.closest("dialog").close();
    });
    document.querySelectorAll("dialog[open]").forEach((dialog) => {
      openModal(dialog, dialog.querySelector("[aria-invalid=true]"));
    });
    // A refused form elsewhere on the page: bring its message into view.
    const refused = document.querySelector("main .field-error[role=alert]:not(dialog *)");
    if (refused) refused.scrollIntoView({ block: "center" });
    return;
  }

  // --- the models page ---------------------------------------------------------------------------------------------
  const results = document.getElementById("model-results");
  const search = document.getElementById("model-search");
  const tag = document.getElementById("model-tag");
  const form = document.getElementById("model-search-form");
  const status = document.getElementById("model-status");
  if (!results || !search) return;
  // Fetch the results for a query string and put them in place (Studio.loadListing: only the latest request shows).
  async function load(query, { push = false } = {}) {
    try {
      if (!(await window.Studio.loadListing(results, results.dataset.resultsUrl + query, query, { push }))) return;
      syncHidden();
      const summary = results.querySelector("#model-summary");
      if (summary) status.textContent = summary.textContent.replace(/\s+/g, " ").trim();
    } catch (error) {
      status.textContent = "Could not load the models: " + error.message;
      const box = document.createElement("p");
      box.className = "field-error";
      box.setAttribute("role", "alert");
      box.textContent = "Could not load the models: " + error.message;
      results.prepend(box);
    }
  }

  // The current listing with the search boxes' values (a new search starts again at page 1).
  function searchQuery() {
    const params = new URLSearchParams(window.location.search);
    [["q", search.value.trim()], ["tag", tag.value.trim()]].forEach(([name, value]) => {
      if (value) params.set(name, value); else params.delete(name);
    });
    params.delete("page");
    const text = params.toString();
    return text ? "?" + text : "";
  }

  // The form's hidden sort fields follow the listing, so that submitting it without script keeps the order.
  function syncHidden() {
    const params = new URLSearchParams(window.location.search);
    ["sort", "order"].forEach((name) => {
      const hidden = form.querySelector("input[name=" + name + "]");
      if (hidden && params.has(name)) hidden.value = params.get(name);
    });
  }

  search.addEventListener("input", window.Studio.debounce(() => load(searchQuery()), 200));
  // A tag is looked up once it is complete (on Enter or leaving the box), not at every key.
  tag.addEventListener("change", () => load(searchQuery()));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load(searchQuery());
  });
  results.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-listing-link]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    load(new URL(link.href).search, { push: true });
  });
  window.addEventListener("popstate", () => {
    const params = new URLSearchParams(window.location.search);
    search.value = params.get("q") || "";
    tag.value = params.get("tag") || "";
    load(window.location.search);
  });
})();
