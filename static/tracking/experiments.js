// The experiments page: the table follows the search box as the user types (a server-rendered fragment, fetched
// after a pause in typing, with `q` kept in the URL); sort headers and the pager swap the table the same way; the
// create and rename dialogs; and a confirmation before a delete.
(function () {
  "use strict";

  const results = document.getElementById("experiment-results");
  const search = document.getElementById("experiment-search");
  const searchForm = document.getElementById("experiment-search-form");
  const status = document.getElementById("experiment-status");
  if (!results || !search) return;

  const tableUrl = results.dataset.tableUrl;

  // A refused form is answered at its own address (/experiments/create/ ...); show the listing's address instead,
  // so that a search typed next, a reload or a shared link lead back to this listing.
  if (window.location.pathname !== results.dataset.listUrl) {
    const listing = results.dataset.listing;
    history.replaceState(null, "", results.dataset.listUrl + (listing ? "?" + listing : ""));
  }

  // Fetch the table for a query string and put it in place (Studio.loadListing: only the latest request shows).
  async function loadTable(query, { push = false } = {}) {
    try {
      if (!(await window.Studio.loadListing(results, tableUrl + query, query, { push }))) return;
      syncForms();
      const summary = results.querySelector("#experiment-summary");
      if (summary) status.textContent = summary.textContent.trim();
    } catch (error) {
      status.textContent = "Could not load the experiments: " + error.message;
      showLoadError(error.message);
    }
  }

  function showLoadError(message) {
    let box = document.getElementById("experiment-load-error");
    if (!box) {
      box = document.createElement("p");
      box.id = "experiment-load-error";
      box.className = "field-error";
      box.setAttribute("role", "alert");
      results.prepend(box);
    }
    box.textContent = "Could not load the experiments: " + message;
  }

  // The query string of the current listing with a new search (a new search starts again at page 1).
  function queryWith(q) {
    const params = new URLSearchParams(window.location.search);
    if (q) params.set("q", q); else params.delete("q");
    params.delete("page");
    const text = params.toString();
    return text ? "?" + text : "";
  }

  // Forms send the listing they were made from, so that the page after an action shows the same one.
  function syncForms() {
    const current = window.location.search.replace(/^\?/, "");
    document.querySelectorAll("input[name=next]").forEach((input) => { input.value = current; });
    const params = new URLSearchParams(window.location.search);
    ["sort", "order"].forEach((name) => {
      const hidden = searchForm.querySelector("input[name=" + name + "]");
      if (hidden && params.has(name)) hidden.value = params.get(name);
    });
  }

  const searchSoon = window.Studio.debounce(() => loadTable(queryWith(search.value.trim())), 200);
  search.addEventListener("input", searchSoon);
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    loadTable(queryWith(search.value.trim()));
  });

  // Sort headers and pager links change the listing without a page load, and each is a step in the history.
  results.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-listing-link]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    loadTable(new URL(link.href).search, { push: true });
  });
  window.addEventListener("popstate", () => {
    search.value = new URLSearchParams(window.location.search).get("q") || "";
    loadTable(window.location.search);
  });

  // Delete asks first (studio.js's data-confirm, which stops a refused submit before it gets here).
  document.addEventListener("submit", () => syncForms());

  // --- dialogs -----------------------------------------------------------------------------------------------
  function clearError(dialog) {
    dialog.querySelectorAll(".field-error").forEach((element) => element.remove());
    dialog.querySelectorAll("[aria-invalid]").forEach((input) => {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
  }

  function openDialog(dialog, focus) {
    if (dialog.open) dialog.close();
    dialog.showModal();
    const input = focus || dialog.querySelector("input[type=text]");
    if (input) { input.focus(); input.select(); }
  }

  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.openDialog);
      clearError(dialog);
      openDialog(dialog);
      return;
    }
    const rename = event.target.closest("[data-rename-url]");
    if (rename) {
      const dialog = document.getElementById("rename-dialog");
      const form = dialog.querySelector("form");
      clearError(dialog);
      form.action = rename.dataset.renameUrl;
      form.elements.new_name.value = rename.dataset.name;
      openDialog(dialog);
      return;
    }
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").close();
  });

  // A dialog the server rendered open (a refused form) becomes a modal, focused on the field in error.
  document.querySelectorAll("dialog[open]").forEach((dialog) => {
    openDialog(dialog, dialog.querySelector("[aria-invalid=true]"));
  });

  syncForms();
})();
