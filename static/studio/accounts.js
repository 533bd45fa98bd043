// The access tokens page: copy a new token, or the export lines that use it, to the clipboard.
(function () {
  "use strict";

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    // Plain-HTTP servers on another host have no clipboard API: copy through a selected, off-screen text area.
    const area = document.createElement("textarea");
    area.readOnly = true;
    area.className = "offscreen-copy";
    area.value = text;
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    if (!ok) throw new Error("copy refused");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const status = document.querySelector("[data-copy-status]");
    document.querySelectorAll("[data-copy-from]").forEach((button) => {
      button.addEventListener("click", async () => {
        const source = document.getElementById(button.dataset.copyFrom);
        const label = button.textContent;
        try {
          await copyText(source ? source.textContent : "");
          button.textContent = "Copied";
          if (status) status.textContent = "Copied to the clipboard.";
        } catch (error) {
          if (status) status.textContent = "The browser refused to copy; select the text and copy it.";
        }
        setTimeout(() => { button.textContent = label; }, 1500);
      });
    });
  });
})();
