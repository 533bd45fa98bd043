// The version page: copy buttons for the code that loads the version, and a confirmation before a stage move that
// archives the other versions in that stage. Everything else is plain links and forms.
(function () {
  "use strict";

  const copyText = Studio.copyText;

  function startCopyButtons() {
    const status = document.querySelector("[data-copy-status]");
    document.querySelectorAll("[data-copy]").forEach((button) => {
      button.hidden = false; // shown only where this script runs, so it is never a dead button
      button.addEventListener("click", async () => {
        const source = document.getElementById(button.dataset.copy);
        try {
          await copyText(source.textContent);
          button.textContent = "Copied";
          if (status) status.textContent = "Copied to the clipboard.";
        } catch (error) {
          if (status) status.textContent = "The browser refused to copy; select the code and copy it.";
        }
        setTimeout(() => { button.textContent = "Copy"; }, 1500);
      });
    });
  }

  function startStageForm() {
    const form = document.querySelector("[data-stage-form]");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      const stage = form.elements.stage.value;
      if (!form.elements.archive_existing_versions.checked) return;
      const question = "Move version " + form.dataset.version + " to " + stage +
        " and archive every other version now in " + stage + "?";
      if (!window.confirm(question)) event.preventDefault();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    startCopyButtons();
    startStageForm();
  });
})();
