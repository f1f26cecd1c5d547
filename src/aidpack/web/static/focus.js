// After htmx swaps in a whole page (a boosted link or form), keyboard focus goes where the reader's attention
// goes: the page's message (what was refused, or what was done) if it has one, else its heading. htmx left it
// on the page's body, so a keyboard user started again from the top and a screen reader announced nothing.
// Swaps of a part of a page (the needs list's filters) keep the focus where it was.
document.addEventListener("htmx:afterSettle", function (event) {
  if (event.detail.target !== document.body) {
    return;
  }
  var main = document.getElementById("main");
  if (!main || main.querySelector("[autofocus]")) {
    return;
  }
  // A link or button that is on the new page too (a column heading that orders a list) keeps the focus.
  var trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
  var again = trigger && trigger.id ? document.getElementById(trigger.id) : null;
  var target = main.querySelector('[role="alert"], [role="status"]') || again || main.querySelector("h1");
  if (!target) {
    return;
  }
  if (!target.hasAttribute("tabindex")) {
    target.setAttribute("tabindex", "-1");
  }
  target.focus();
});
