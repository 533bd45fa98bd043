// The access tokens page: copy a new token, or the export lines that use it, to the clipboard.
(function () {
  "use strict";

  const copyText = Studio.copyText;

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
