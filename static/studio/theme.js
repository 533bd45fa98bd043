// The theme is a preference of this browser, not page state: localStorage, else the system's choice.
(function () {
  var stored = null;
  try { stored = localStorage.getItem("studio-theme"); } catch (e) { /* storage disabled */ }
  var dark = stored ? stored === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = dark ? "dark" : "light";
})();
