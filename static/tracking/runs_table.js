// The experiment page's runs table. The table is server-rendered; this script swaps it for a fresh fragment when
// the filter, the deleted-runs toggle, a sort header, a pager link or the column choice changes, keeping every
// setting in the URL (filter, cols, sort, order, after/before, deleted, sel, open). It also:
//   - puts the columns the server resolved (the ones remembered for this experiment, or its default) in the URL
//     with replaceState, so that the address always reproduces the view;
//   - expands a parent run: its children come as table rows from /experiments/<id>/runs/<run>/children/ and go under
//     its row (a keyset page at a time: "Show more child runs"), and the expanded parents are in `open`;
//   - keeps the selected runs in `sel` across pages and sends them to the compare page (2 runs or more);
//   - fills the column picker's dialog with the experiment's keys when it opens.
(function () {
  "use strict";

  const results = document.getElementById("run-results");
  if (!results) return;
  const resultsUrl = results.dataset.resultsUrl;
  const compareUrl = results.dataset.compareUrl;
  const maxSelected = parseInt(results.dataset.maxSelected, 10) || 200;
  const filterForm = document.getElementById("run-filter-form");
  const filterInput = document.getElementById("run-filter");
  const deletedBox = document.getElementById("show-deleted");
  const status = document.getElementById("run-status");
  const compareForm = document.getElementById("compare-form");
  const compareButton = document.getElementById("compare-button");
  const selectionCount = document.getElementById("selection-count");
  const clearButton = document.getElementById("clear-selection");
  const columnsButton = document.getElementById("columns-button");
  const dialog = document.getElementById("columns-dialog");
  const choices = document.getElementById("columns-choices");
  const columnsSearch = document.getElementById("columns-search");
  let inFlight = null;

  // --- the URL ---------------------------------------------------------------------------------------------------
  function params() {
    return new URLSearchParams(window.location.search);
  }

  // Commas stay readable (cols=metrics.loss,params.lr); a comma in a query value needs no escaping.
  function queryString(p) {
    const text = p.toString().replace(/%2C/gi, ",");
    return text ? "?" + text : "";
  }

  function setUrl(search, push) {
    const url = new URL(window.location.href);
    url.search = search;
    (push ? history.pushState : history.replaceState).call(history, null, "", url);
  }

  function listParam(name) {
    const value = params().get(name);
    return value ? value.split(",").filter(Boolean) : [];
  }

  function setList(name, values) {
    const p = params();
    if (values.length) p.set(name, values.join(",")); else p.delete(name);
    setUrl(queryString(p), false);
  }

  function say(message) {
    status.textContent = message;
  }

  // --- the table -------------------------------------------------------------------------------------------------
  // `focus`: a selector of the element to focus in the new table (the header or pager link that was clicked).
  async function load(search, { push = false, focus = null } = {}) {
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    results.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(resultsUrl + search, { signal: controller.signal, headers: { Accept: "text/html" } });
      // A filter that does not parse is a 400 whose body is the table with MLflow's message: show it like any other.
      if (!response.ok && response.status !== 400) throw new Error(response.status + " " + response.statusText);
      results.innerHTML = await response.text();
      setUrl(search, push);
      afterTable();
      const target = focus && results.querySelector(focus);
      if (target) target.focus();
    } catch (error) {
      if (error.name === "AbortError") return;
      say("Could not load the runs: " + error.message);
      let box = document.getElementById("run-load-error");
      if (!box) {
        box = document.createElement("p");
        box.id = "run-load-error";
        box.className = "field-error";
        box.setAttribute("role", "alert");
        results.prepend(box);
      }
      box.textContent = "Could not load the runs: " + error.message;
    } finally {
      if (inFlight === controller) {
        inFlight = null;
        results.removeAttribute("aria-busy");
      }
    }
  }

  // What every freshly rendered table needs: local times, its columns in the URL, the filter box's error state,
  // the selection's checkboxes, and the expanded parents expanded again.
  function afterTable() {
    window.Studio.localizeTimes(results);
    const summary = document.getElementById("run-summary");
    if (summary && summary.hasAttribute("data-cols")) {
      const p = params();
      if (p.get("cols") !== summary.dataset.cols) {
        p.set("cols", summary.dataset.cols);
        setUrl(queryString(p), false);
      }
      const count = summary.dataset.cols ? summary.dataset.cols.split(",").length : 0;
      columnsButton.textContent = count ? "Columns (" + count + ")" : "Columns";
    }
    const error = document.getElementById("run-filter-error");
    if (error) {
      filterInput.setAttribute("aria-invalid", "true");
      filterInput.setAttribute("aria-describedby", "run-filter-help run-filter-error");
      say(error.textContent);
    } else {
      filterInput.removeAttribute("aria-invalid");
      filterInput.setAttribute("aria-describedby", "run-filter-help");
      if (summary) say(summary.textContent.trim());
    }
    syncForm();
    syncSelection();
    expandOpen(results);
  }

  // The form's hidden fields follow the URL, for a submit without this script's help (a new tab, say).
  function syncForm() {
    const p = params();
    ["cols", "sort", "order", "sel"].forEach((name) => {
      let input = filterForm.querySelector("input[type=hidden][name=" + name + "]");
      if (!p.has(name)) { if (input) input.remove(); return; }
      if (!input) {
        input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        filterForm.prepend(input);
      }
      input.value = p.get(name);
    });
  }

  // A new filter or view starts at the first page.
  function reload(changes) {
    const p = params();
    Object.entries(changes).forEach(([name, value]) => {
      if (value === null) p.delete(name); else p.set(name, value);
    });
    p.delete("after");
    p.delete("before");
    load(queryString(p), { push: true });
  }

  filterForm.addEventListener("submit", (event) => {
    event.preventDefault();
    reload({ filter: filterInput.value.trim() || null });
  });
  deletedBox.addEventListener("change", () => reload({ deleted: deletedBox.checked ? "1" : null, open: null }));

  // Sort headers and the pager: the link's state, with the selection and expanded parents as they are now.
  function followLink(link) {
    const p = new URLSearchParams(new URL(link.href).search);
    ["sel", "open"].forEach((name) => {
      const current = params().get(name);
      if (current) p.set(name, current); else p.delete(name);
    });
    const header = link.closest("th[data-column]");
    const focus = header ? 'th[data-column="' + CSS.escape(header.dataset.column) + '"] a'
      : link.rel ? 'a[rel="' + link.rel + '"]' : null;
    load(queryString(p), { push: true, focus });
  }

  window.addEventListener("popstate", () => {
    const p = params();
    filterInput.value = p.get("filter") || "";
    deletedBox.checked = p.get("deleted") === "1";
    load(window.location.search);
  });

  // --- nested runs -----------------------------------------------------------------------------------------------
  function ancestorsOf(row) {
    return (row.dataset.ancestors || "").split(" ").filter(Boolean);
  }

  function childQuery(depth, after) {
    const p = params();
    ["filter", "after", "before", "open"].forEach((name) => p.delete(name));
    p.set("depth", String(depth));
    if (after) p.set("after", after);
    return queryString(p);
  }

  async function fetchRows(url) {
    const response = await fetch(url, { headers: { Accept: "text/html" } });
    if (!response.ok) throw new Error(response.status + " " + response.statusText);
    const holder = document.createElement("tbody");
    holder.innerHTML = await response.text();
    return Array.from(holder.children);
  }

  // Rows of `parent`'s children go right before `before` (the row after the parent, or a "more" row).
  function placeRows(rows, parentRow, before) {
    const ancestors = ancestorsOf(parentRow).concat(parentRow.dataset.runId).join(" ");
    rows.forEach((row) => {
      row.dataset.ancestors = ancestors;
      parentRow.parentNode.insertBefore(row, before);
    });
    window.Studio.localizeTimes(parentRow.parentNode);
    syncSelection();
  }

  async function expand(button) {
    const row = button.closest("tr");
    const id = row.dataset.runId;
    button.setAttribute("aria-expanded", "true");
    button.disabled = true;
    try {
      const depth = parseInt(row.dataset.depth || "0", 10) + 1;
      const rows = await fetchRows(button.dataset.childrenUrl + childQuery(depth));
      collapseRows(id); // a second expand while the first was on its way
      placeRows(rows, row, row.nextElementSibling);
      const open = listParam("open");
      if (!open.includes(id)) setList("open", open.concat(id));
      say("Showing the child runs of " + row.querySelector(".run-name a").textContent + ".");
      rows.forEach((child) => expandOpen(child));
    } catch (error) {
      button.setAttribute("aria-expanded", "false");
      say("Could not load the child runs: " + error.message);
    } finally {
      button.disabled = false;
    }
  }

  function collapseRows(id) {
    results.querySelectorAll('tr[data-ancestors~="' + CSS.escape(id) + '"]').forEach((row) => row.remove());
  }

  function collapse(button) {
    const id = button.closest("tr").dataset.runId;
    button.setAttribute("aria-expanded", "false");
    collapseRows(id);
    setList("open", listParam("open").filter((open) => open !== id));
  }

  async function showMore(button) {
    const moreRow = button.closest("tr");
    const parentRow = results.querySelector('tr[data-run-id="' + CSS.escape(moreRow.dataset.parentId) + '"]');
    if (!parentRow) return;
    button.disabled = true;
    try {
      const rows = await fetchRows(button.dataset.moreUrl + childQuery(moreRow.dataset.depth, button.dataset.after));
      placeRows(rows, parentRow, moreRow);
      moreRow.remove();
    } catch (error) {
      button.disabled = false;
      say("Could not load more child runs: " + error.message);
    }
  }

  // Expand the parents that `open` names, in a freshly inserted table or rows.
  function expandOpen(root) {
    const open = new Set(listParam("open"));
    if (!open.size) return;
    const rows = root.matches && root.matches("tr") ? [root] : Array.from(root.querySelectorAll("tr[data-run-id]"));
    rows.forEach((row) => {
      const button = row.querySelector("button.expander[aria-expanded=false]");
      if (button && open.has(row.dataset.runId)) expand(button);
    });
  }

  // --- selection -------------------------------------------------------------------------------------------------
  function syncSelection() {
    const selected = listParam("sel");
    const ids = new Set(selected);
    const boxes = Array.from(results.querySelectorAll("input[data-select-run]"));
    boxes.forEach((box) => { box.checked = ids.has(box.value); });
    const pageBox = document.getElementById("select-page");
    if (pageBox) {
      const checked = boxes.filter((box) => box.checked).length;
      pageBox.checked = boxes.length > 0 && checked === boxes.length;
      pageBox.indeterminate = checked > 0 && checked < boxes.length;
    }
    compareButton.disabled = ids.size < 2;
    compareForm.elements.runs.value = selected.join(",");
    selectionCount.textContent = ids.size ? ids.size + " selected" : "";
    clearButton.hidden = !ids.size;
  }

  function select(ids, on) {
    let selected = listParam("sel");
    if (on) {
      const adding = ids.filter((id) => !selected.includes(id));
      if (selected.length + adding.length > maxSelected) {
        say("At most " + maxSelected + " runs can be compared at once.");
        syncSelection();
        return;
      }
      selected = selected.concat(adding);
    } else {
      selected = selected.filter((id) => !ids.includes(id));
    }
    setList("sel", selected);
    syncSelection();
  }

  results.addEventListener("change", (event) => {
    const target = event.target;
    if (target.matches("input[data-select-run]")) {
      select([target.value], target.checked);
    } else if (target.id === "select-page") {
      const ids = Array.from(results.querySelectorAll("input[data-select-run]")).map((box) => box.value);
      select(ids, target.checked);
    }
  });
  clearButton.addEventListener("click", () => {
    setList("sel", []);
    syncSelection();
    say("No runs selected.");
  });
  compareForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const selected = listParam("sel");
    if (selected.length >= 2) window.location.assign(compareUrl + "?runs=" + selected.join(","));
  });

  results.addEventListener("click", (event) => {
    const expander = event.target.closest("button.expander");
    if (expander) {
      if (expander.getAttribute("aria-expanded") === "true") collapse(expander); else expand(expander);
      return;
    }
    const more = event.target.closest("button[data-more-url]");
    if (more) {
      showMore(more);
      return;
    }
    const link = event.target.closest("a[data-table-link]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    followLink(link);
  });

  // --- the column picker -----------------------------------------------------------------------------------------
  async function openColumns() {
    columnsSearch.value = "";
    dialog.showModal();
    columnsSearch.focus();
    choices.innerHTML = '<p class="muted">Loading the keys…</p>';
    const url = columnsButton.dataset.columnsUrl + queryString(new URLSearchParams({ cols: params().get("cols") || "" }));
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" } });
      if (!response.ok) throw new Error(response.status + " " + response.statusText);
      choices.innerHTML = await response.text();
    } catch (error) {
      choices.innerHTML = "";
      const box = document.createElement("p");
      box.className = "field-error";
      box.setAttribute("role", "alert");
      box.textContent = "Could not load the keys: " + error.message;
      choices.append(box);
    }
  }

  columnsButton.addEventListener("click", openColumns);
  columnsSearch.addEventListener("input", () => {
    const needle = columnsSearch.value.trim().toLowerCase();
    choices.querySelectorAll(".column-choice").forEach((label) => {
      label.hidden = needle !== "" && !label.textContent.toLowerCase().includes(needle);
    });
  });
  document.getElementById("columns-none").addEventListener("click", () => {
    choices.querySelectorAll("input[name=col]").forEach((box) => { box.checked = false; });
  });
  document.getElementById("columns-cancel").addEventListener("click", () => dialog.close());
  document.getElementById("columns-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!choices.querySelector("input[name=col]")) { dialog.close(); return; }
    // The columns kept stay where they were; new ones follow, in the picker's order.
    const checked = Array.from(choices.querySelectorAll("input[name=col]:checked")).map((box) => box.value);
    const kept = listParam("cols").filter((id) => checked.includes(id));
    const cols = kept.concat(checked.filter((id) => !kept.includes(id)));
    const p = params();
    p.set("cols", cols.join(","));
    const sort = p.get("sort");
    if (sort && !sort.startsWith("attributes.") && !cols.includes(sort)) {
      p.delete("sort");
      p.delete("order");
    }
    p.delete("after");
    p.delete("before");
    dialog.close();
    load(queryString(p), { push: true });
    columnsButton.focus();
  });

  afterTable();
})();
