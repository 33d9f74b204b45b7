/* Copy buttons beside share-link addresses (progressive enhancement: without this script the
   buttons stay hidden and the address is plain selectable text). A button names what it copies
   with data-copy="<element id>"; the result is announced in #copy-status (aria-live). */
(function () {
  "use strict";
  function say(text) {
    var status = document.getElementById("copy-status");
    if (!status) { return; }
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }
  function textOf(element) {
    return (element.value !== undefined ? element.value : element.textContent).trim();
  }
  function select(element) {
    if (element.select) { element.select(); return; }
    var range = document.createRange();
    range.selectNodeContents(element);
    var chosen = window.getSelection();
    chosen.removeAllRanges();
    chosen.addRange(range);
  }
  function fallback(element) {
    select(element);
    var done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    say(done ? "Copied" : "Press Ctrl+C (or Cmd+C) to copy the selected address");
  }
  function copy(button) {
    var element = document.getElementById(button.getAttribute("data-copy"));
    if (!element) { return; }
    var text = textOf(element);
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { say("Copied"); }, function () { fallback(element); });
    } else {
      fallback(element);
    }
  }
  var buttons = document.querySelectorAll("button[data-copy]");
  for (var i = 0; i < buttons.length; i++) {
    var button = buttons[i];
    if (button.getAttribute("data-bound")) { continue; }
    button.setAttribute("data-bound", "yes");
    button.hidden = false;
    button.addEventListener("click", function (event) { copy(event.currentTarget); });
  }
}());
