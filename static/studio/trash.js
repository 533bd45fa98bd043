// The trash page: select, restore, dry run then purge (as a job), and follow the jobs until they finish.
(function () {
  const root = document.querySelector("[data-trash]");
  if (!root) return;
  const status = root.querySelector("[data-status]");
  const table = root.querySelector("table[data-kind]");
  const kind = table ? table.dataset.kind : null;
  const planDialog = root.querySelector("[data-plan-dialog]");
  const planBody = planDialog.querySelector("[data-plan-body]");
  const planError = planDialog.querySelector("[data-plan-error]");
  const confirmButton = planDialog.querySelector("[data-confirm-purge]");
  const restoreButton = root.querySelector("[data-restore]");
  const purgeSelectedButton = root.querySelector("[data-purge-selected]");
  const selectAll = root.querySelector("[data-select-all]");
  let pendingSelection = null;

  function size(bytes) {
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let value = bytes, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return unit === 0 ? bytes + " bytes" : value.toFixed(1) + " " + units[unit];
  }

  function selectedIds() {
    return Array.from(root.querySelectorAll("[data-select]:checked")).map((box) => box.value);
  }

  function updateButtons() {
    const count = selectedIds().length;
    if (restoreButton) restoreButton.disabled = count === 0;
    if (purgeSelectedButton) purgeSelectedButton.disabled = count === 0;
  }

  root.querySelectorAll("[data-select]").forEach((box) => box.addEventListener("change", updateButtons));
  if (selectAll) {
    selectAll.addEventListener("change", () => {
      root.querySelectorAll("[data-select]").forEach((box) => { box.checked = selectAll.checked; });
      updateButtons();
    });
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function renderPlan(plan) {
    planBody.replaceChildren();
    const totals = element("p", "", "plan-totals");
    const counts = Object.entries(plan.counts).map(([k, n]) => n + " " + k.replace("_", " ") + (n === 1 ? "" : "s"));
    totals.textContent = plan.item_count
      ? "Removes " + counts.join(", ") + ": " + plan.files + " files, " + size(plan.bytes) + " come back."
      : "Nothing selected can be purged.";
    planBody.append(totals);
    if (plan.items.length) {
      const list = element("ul", undefined, "plan-list");
      list.setAttribute("aria-label", "What the purge removes");
      plan.items.forEach((item) => {
        const where = item.parent ? " in " + item.parent : "";
        list.append(element("li", item.kind.replace("_", " ") + " " + item.name + where + " — " + size(item.bytes)));
      });
      if (plan.item_count > plan.items.length) {
        list.append(element("li", "… and " + (plan.item_count - plan.items.length) + " more"));
      }
      planBody.append(list);
    }
    if (plan.blocked.length) {
      planBody.append(element("h3", "Kept"));
      const kept = element("ul", undefined, "plan-list");
      plan.blocked.forEach((item) => kept.append(element("li", item.kind.replace("_", " ") + " " + item.name + ": " + item.blocked)));
      planBody.append(kept);
    }
    if (plan.missing.length) {
      planBody.append(element("p", plan.missing.length + " selected item(s) are no longer in the trash.", "muted small"));
    }
    planBody.append(element("p", "This cannot be undone.", "muted small"));
    confirmButton.disabled = !plan.item_count;
    confirmButton.textContent = plan.item_count ? "Purge " + plan.item_count + " item" + (plan.item_count === 1 ? "" : "s") : "Purge";
  }

  async function preview(selection) {
    pendingSelection = selection;
    planError.hidden = true;
    confirmButton.disabled = true;
    planBody.replaceChildren(element("p", "Working out what goes…"));
    planDialog.showModal();
    try {
      renderPlan(await Studio.fetchJSON(root.dataset.planUrl, { method: "POST", body: selection }));
    } catch (error) {
      planBody.replaceChildren();
      planError.textContent = error.message;
      planError.hidden = false;
    }
  }

  function filterSelection() {
    const days = root.querySelector("#older-than").value;
    const selection = kind ? { kinds: [kind] } : {};
    if (days !== "") selection.older_than_days = Number(days);
    return selection;
  }

  if (purgeSelectedButton) {
    purgeSelectedButton.addEventListener("click", () => preview({ items: selectedIds().map((id) => ({ kind, id })) }));
  }
  root.querySelector("[data-purge-all]").addEventListener("click", () => preview(filterSelection()));

  confirmButton.addEventListener("click", async () => {
    confirmButton.disabled = true;
    try {
      const answer = await Studio.fetchJSON(root.dataset.createUrl, { method: "POST", body: pendingSelection });
      planDialog.close();
      status.textContent = "Purge job #" + answer.job.job_id + " queued.";
      addJobRow(answer.job);
      follow(answer.job.job_id);
    } catch (error) {
      planError.textContent = error.message;
      planError.hidden = false;
    }
  });

  if (restoreButton) {
    restoreButton.addEventListener("click", async () => {
      const ids = selectedIds();
      restoreButton.disabled = true;
      const failures = [];
      for (const id of ids) {
        try {
          await Studio.fetchJSON(root.dataset.restoreUrl, { method: "POST", body: { kind, id } });
          const row = table.querySelector('tr[data-id="' + CSS.escape(id) + '"]');
          if (row) row.remove();
        } catch (error) {
          failures.push(error.message);
        }
      }
      status.textContent = (ids.length - failures.length) + " restored." + (failures.length ? " " + failures.join(" ") : "");
      updateButtons();
    });
  }

  function jobCells(row, job) {
    const p = job.progress;
    row.dataset.status = job.status;
    const badge = row.querySelector("[data-job-status]");
    badge.textContent = job.status;
    badge.className = "badge " + job.status;
    row.querySelector("[data-job-progress]").textContent = p.done + "/" + p.total + (p.failed ? " (" + p.failed + " failed)" : "");
    const freed = row.querySelector("[data-job-bytes]");
    freed.textContent = size(p.bytes);
    freed.title = p.bytes + " bytes";
  }

  function addJobRow(job) {
    const body = root.querySelector("[data-jobs]");
    root.querySelector("[data-jobs-table]").hidden = false;
    root.querySelector("[data-no-jobs]").hidden = true;
    const row = document.createElement("tr");
    row.dataset.job = job.job_id;
    ["#" + job.job_id, job.description, "", "", "", job.created_by || "—", new Date(job.created_at).toLocaleString(), ""].forEach((text, i) => {
      const cell = element("td", text);
      if (i === 1) cell.className = "wrap";
      if (i === 3 || i === 4) cell.className = "num";
      row.append(cell);
    });
    row.children[2].append(element("span", "", "badge"));
    row.children[2].firstChild.setAttribute("data-job-status", "");
    row.children[3].setAttribute("data-job-progress", "");
    row.children[4].setAttribute("data-job-bytes", "");
    const show = element("button", "Show", "link");
    show.type = "button";
    show.setAttribute("data-show-log", "");
    show.setAttribute("aria-label", "Show the log of job " + job.job_id);
    row.children[7].append(show);
    body.prepend(row);
    jobCells(row, job);
  }

  async function follow(jobId) {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      let job;
      try {
        job = (await Studio.fetchJSON(root.dataset.jobUrl + "?job_id=" + encodeURIComponent(jobId))).job;
      } catch (error) {
        status.textContent = "Could not follow job #" + jobId + ": " + error.message;
        return;
      }
      const row = root.querySelector('tr[data-job="' + jobId + '"]');
      if (row) jobCells(row, job);
      if (job.status === "finished" || job.status === "failed") {
        const p = job.progress;
        status.textContent = "Purge job #" + jobId + " " + job.status + ": " + p.done + " purged" +
          (p.failed ? ", " + p.failed + " failed" : "") + ", " + size(p.bytes) + " freed.";
        if (table) {
          const gone = new Set();
          (await fetchDone(jobId)).forEach((id) => gone.add(id));
          table.querySelectorAll("tbody tr").forEach((tr) => { if (gone.has(tr.dataset.id)) tr.remove(); });
        }
        return;
      }
    }
  }

  async function fetchDone(jobId) {
    // What is still in the trash decides; the rows that are not any more go.
    const listed = await Studio.fetchJSON(root.dataset.listUrl + "?kind=" + kind + "&max_results=1000");
    const still = new Set(listed.items.map((item) => item.id));
    return Array.from(table.querySelectorAll("tbody tr")).map((tr) => tr.dataset.id).filter((id) => !still.has(id));
  }

  root.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-show-log]");
    if (!button) return;
    const jobId = button.closest("tr").dataset.job;
    const dialog = root.querySelector("[data-log-dialog]");
    const body = dialog.querySelector("[data-log-body]");
    body.textContent = "Loading…";
    dialog.showModal();
    try {
      const job = (await Studio.fetchJSON(root.dataset.jobUrl + "?job_id=" + encodeURIComponent(jobId))).job;
      body.textContent = job.log || "(empty)";
    } catch (error) {
      body.textContent = error.message;
    }
  });

  root.querySelectorAll('tr[data-job][data-status="queued"], tr[data-job][data-status="running"]').forEach((row) => follow(row.dataset.job));
})();
