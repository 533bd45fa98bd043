// The artifacts component (templates/tracking/artifacts/browser.html): a lazy folder tree and a preview pane.
// Every [data-artifact-browser] element is started on DOMContentLoaded. A folder's children are fetched the first
// time it opens; the preview is an HTML fragment rendered by the server; the selected path is in the URL
// (?path=..., or the element's data-url-param) so that a link opens the same file. Where the preview offers a Delete
// button (a run's artifacts), its dialog counts what goes (a dry run for a folder), posts the deletion, then lists the
// folder above again and selects it.
(function () {
  "use strict";

  function formatSize(bytes) {
    if (bytes === null || bytes === undefined) return "";
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? value + " " + (value === 1 ? "byte" : "bytes") : value.toFixed(1) + " " + units[unit];
  }

  // "3 files, 1.2 MB"
  function describeFiles(files, bytes) {
    return files + (files === 1 ? " file, " : " files, ") + formatSize(bytes);
  }

  function parentOf(path) {
    const cut = path.lastIndexOf("/");
    return cut < 0 ? "" : path.slice(0, cut);
  }

  class ArtifactBrowser {
    constructor(element) {
      this.element = element;
      this.listUrl = element.dataset.listUrl;
      this.previewUrl = element.dataset.previewUrl;
      this.param = element.dataset.urlParam || "path";
      this.tree = element.querySelector(".artifact-tree");
      this.pane = element.querySelector("[data-preview]");
      this.status = element.querySelector("[data-status]");
      this.rootItem = this.tree.querySelector("[data-path='']");
      this.selected = null;
      this.previewRequest = null;
    }

    async start() {
      this.tree.addEventListener("click", (event) => this.onTreeClick(event));
      this.tree.addEventListener("keydown", (event) => this.onKey(event));
      this.pane.addEventListener("click", (event) => {
        const target = event.target.closest("[data-select-path]");
        if (target) this.open(target.dataset.selectPath, { push: true, focusTree: true });
        if (event.target.closest("[data-delete-open]")) this.openDelete();
        if (event.target.closest("[data-delete-cancel]")) event.target.closest("dialog").close();
      });
      this.pane.addEventListener("submit", (event) => {
        if (event.target.matches("[data-delete-form]")) this.confirmDelete(event);
      });
      window.addEventListener("popstate", () => this.open(this.urlPath(), { push: false }));
      await this.expand(this.rootItem);
      await this.open(this.urlPath(), { push: false });
    }

    urlPath() {
      return new URL(window.location.href).searchParams.get(this.param) || "";
    }

    itemFor(path) {
      return this.tree.querySelector('[data-path="' + CSS.escape(path) + '"]');
    }

    linkFor(path) {
      const url = new URL(window.location.href);
      url.searchParams.set(this.param, path);
      return url.pathname + url.search;
    }

    // Open the folders down to `path`, select it and show its preview; `push` adds a history entry.
    async open(path, { push = false, focusTree = false } = {}) {
      const parts = path ? path.split("/") : [];
      for (let depth = 1; depth < parts.length; depth += 1) {
        const folder = this.itemFor(parts.slice(0, depth).join("/"));
        if (!folder || !("dir" in folder.dataset)) break; // not listed (a bad or vanished path): the preview says so
        await this.expand(folder);
      }
      const item = this.itemFor(path);
      if (item && "dir" in item.dataset && path) await this.expand(item);
      this.select(path, item, { push });
      if (item && focusTree) item.focus();
    }

    select(path, item, { push }) {
      if (this.selected) this.selected.removeAttribute("aria-current");
      this.selected = item || null;
      if (item) {
        item.setAttribute("aria-current", "true");
        item.scrollIntoView({ block: "nearest" });
      }
      Studio.updateUrl({ [this.param]: path || null }, { push });
      return this.showPreview(path);
    }

    async showPreview(path) {
      if (this.previewRequest) this.previewRequest.abort();
      const request = new AbortController();
      this.previewRequest = request;
      this.pane.setAttribute("aria-busy", "true");
      try {
        const url = this.previewUrl + (path ? "?" + new URLSearchParams({ path }) : "");
        const response = await fetch(url, { signal: request.signal, headers: { Accept: "text/html" } });
        this.pane.innerHTML = await response.text();
        this.announce(response.ok ? "Showing " + (path || "all artifacts") : "Could not show " + path);
      } catch (error) {
        if (error.name === "AbortError") return;
        this.pane.innerHTML = "";
        const message = document.createElement("p");
        message.className = "field-error";
        message.setAttribute("role", "alert");
        message.textContent = "Could not load the preview: " + error.message;
        this.pane.append(message);
      } finally {
        if (this.previewRequest === request) {
          this.pane.removeAttribute("aria-busy");
          this.previewRequest = null;
        }
      }
    }

    announce(text) {
      if (this.status) this.status.textContent = text;
    }

    childList(folder) {
      return folder.parentElement.querySelector(":scope > [data-children]");
    }

    // Show a folder's children, fetching them the first time.
    async expand(folder) {
      const list = this.childList(folder);
      if (!folder.dataset.loaded) {
        if (!folder.loading) folder.loading = this.load(folder, list);
        await folder.loading;
      }
      list.hidden = false;
      folder.setAttribute("aria-expanded", "true");
    }

    collapse(folder) {
      this.childList(folder).hidden = true;
      folder.setAttribute("aria-expanded", "false");
    }

    // List a folder again (after a deletion), then reopen the folders that were open inside it; false if it failed.
    async reload(folder) {
      const open = Array.from(this.childList(folder).querySelectorAll(".artifact-item[aria-expanded='true']"));
      delete folder.dataset.loaded;
      await this.expand(folder);
      if (!folder.dataset.loaded) return false;
      for (const path of open.map((item) => item.dataset.path)) {
        const item = this.itemFor(path);
        if (item) await this.expand(item);
      }
      return true;
    }

    async load(folder, list) {
      const path = folder.dataset.path;
      folder.setAttribute("aria-busy", "true");
      try {
        const listing = await Studio.fetchJSON(this.listUrl + (path ? "?" + new URLSearchParams({ path }) : ""));
        list.replaceChildren(...listing.entries.map((entry) => this.renderEntry(entry)));
        if (!listing.entries.length) list.append(this.note(path ? "Empty folder" : "No artifacts"));
        if (listing.total > listing.entries.length) {
          list.append(this.note((listing.total - listing.entries.length) + " more not shown"));
        }
        folder.dataset.loaded = "true";
      } catch (error) {
        list.replaceChildren(this.note("Could not list: " + error.message, "field-error"));
      } finally {
        folder.removeAttribute("aria-busy");
        folder.loading = null;
      }
    }

    note(text, className = "muted small") {
      const item = document.createElement("li");
      item.className = "artifact-note " + className;
      item.textContent = text;
      return item;
    }

    renderEntry(entry) {
      const item = document.createElement("li");
      let control;
      if (entry.is_dir) {
        control = document.createElement("button");
        control.type = "button";
        control.className = "artifact-item folder";
        control.dataset.dir = "";
        control.setAttribute("aria-expanded", "false");
      } else {
        control = document.createElement("a");
        control.className = "artifact-item file";
        control.href = this.linkFor(entry.path);
      }
      control.dataset.path = entry.path;
      control.title = entry.path;
      const name = document.createElement("span");
      name.className = "artifact-name";
      name.textContent = entry.name;
      control.append(name);
      if (!entry.is_dir) {
        const size = document.createElement("span");
        size.className = "artifact-size";
        size.textContent = formatSize(entry.size);
        control.append(size);
        control.setAttribute("aria-label", entry.name + ", " + formatSize(entry.size));
      }
      item.append(control);
      if (entry.is_dir) {
        const children = document.createElement("ul");
        children.className = "artifact-tree-list";
        children.dataset.children = "";
        children.hidden = true;
        item.append(children);
      }
      return item;
    }

    async onTreeClick(event) {
      const item = event.target.closest(".artifact-item");
      if (!item || !this.tree.contains(item)) return;
      if (item.tagName === "A") {
        // A modified click opens the link as a link would (a new tab).
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey || event.button !== 0) return;
        event.preventDefault();
      } else if (item.getAttribute("aria-expanded") === "true" && item === this.selected) {
        this.collapse(item);
        return;
      } else {
        await this.expand(item);
      }
      this.select(item.dataset.path, item, { push: true });
    }

    // --- deleting the previewed file or folder ------------------------------------------------------------------

    async openDelete() {
      const dialog = this.pane.querySelector("[data-delete-dialog]");
      const form = dialog.querySelector("[data-delete-form]");
      const confirm = form.querySelector("[data-delete-confirm]");
      const summary = form.querySelector("[data-delete-summary]");
      this.showDeleteError(form, "");
      dialog.showModal();
      if (form.dataset.files) {
        summary.textContent = describeFiles(Number(form.dataset.files), Number(form.dataset.bytes)) + " will be deleted.";
        return;
      }
      // A folder: the server counts what it holds, without deleting anything.
      confirm.disabled = true;
      try {
        const counted = await this.postDelete(form, { dry_run: true });
        summary.textContent = counted.files_deleted
          ? describeFiles(counted.files_deleted, counted.bytes_deleted) + " will be deleted."
          : "The folder holds no files.";
        confirm.disabled = false;
      } catch (error) {
        summary.textContent = "";
        this.showDeleteError(form, "Could not count what it holds: " + error.message);
      }
    }

    postDelete(form, extra = {}) {
      const body = Object.assign(Object.fromEntries(new FormData(form)), extra);
      return Studio.fetchJSON(form.getAttribute("action"), { method: "POST", body });
    }

    showDeleteError(form, text) {
      const error = form.querySelector("[data-delete-error]");
      error.textContent = text;
      error.hidden = !text;
    }

    async confirmDelete(event) {
      event.preventDefault();
      const form = event.target;
      const path = new FormData(form).get("path");
      const buttons = form.querySelectorAll("button");
      buttons.forEach((button) => { button.disabled = true; });
      this.showDeleteError(form, "");
      let result;
      try {
        result = await this.postDelete(form);
      } catch (error) {
        this.showDeleteError(form, "Could not delete " + path + ": " + error.message);
        buttons.forEach((button) => { button.disabled = false; });
        return;
      }
      form.closest("dialog").close();
      await this.afterDelete(path, result);
    }

    // The tree loses the deleted entry, the folder above it is selected, and a notice says what went.
    async afterDelete(path, result) {
      const folderPath = await this.refreshAbove(path);
      const item = this.itemFor(folderPath);
      await this.select(folderPath, item, { push: false });
      const message = "Deleted " + path + " (" + describeFiles(result.files_deleted, result.bytes_deleted) + ").";
      const notice = document.createElement("p");
      notice.className = "notice";
      notice.dataset.deletedNotice = "";
      notice.textContent = message;
      this.pane.prepend(notice);
      this.announce(message);
      if (item) item.focus();
    }

    // List again the nearest folder above a deleted path that still exists (on S3, a folder goes with its last file).
    async refreshAbove(path) {
      let folderPath = parentOf(path);
      for (;;) {
        const folder = this.itemFor(folderPath);
        if ((folder && (await this.reload(folder))) || !folderPath) return folderPath;
        folderPath = parentOf(folderPath);
      }
    }

    visibleItems() {
      return Array.from(this.tree.querySelectorAll(".artifact-item")).filter((item) => !item.closest("[hidden]"));
    }

    // Arrow keys move through the visible entries; right and left open and close folders (as in a tree view).
    async onKey(event) {
      const item = event.target.closest(".artifact-item");
      if (!item) return;
      const items = this.visibleItems();
      const index = items.indexOf(item);
      const isFolder = "dir" in item.dataset;
      const expanded = item.getAttribute("aria-expanded") === "true";
      let next = null;
      switch (event.key) {
        case "ArrowDown": next = items[index + 1]; break;
        case "ArrowUp": next = items[index - 1]; break;
        case "Home": next = items[0]; break;
        case "End": next = items[items.length - 1]; break;
        case "ArrowRight":
          if (isFolder && !expanded) await this.expand(item);
          else if (isFolder) next = this.visibleItems()[index + 1];
          break;
        case "ArrowLeft":
          if (isFolder && expanded) this.collapse(item);
          else next = this.itemFor(parentOf(item.dataset.path)) || this.rootItem;
          if (next === item) next = null;
          break;
        default:
          return;
      }
      event.preventDefault();
      if (next) next.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-artifact-browser]").forEach((element) => {
      const browser = new ArtifactBrowser(element);
      element.artifactBrowser = browser;
      browser.start();
    });
  });
})();
