// The report page's Print button: shown only where script runs (without it, the browser's own
// Print command does the same); a real <button>, so Enter and Space press it.
for (const button of document.querySelectorAll("button[data-print]")) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}
