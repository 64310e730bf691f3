// Copy buttons: <button data-copy="ID"> copies the text of element ID.
// Without script the value is still selectable by a click (user-select: all).
document.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-copy]");
  if (!b) return;
  var el = document.getElementById(b.getAttribute("data-copy"));
  if (!el || !navigator.clipboard) return;
  navigator.clipboard.writeText(el.textContent.trim()).then(function () {
    var done = b.getAttribute("data-copied");
    if (done) { b.textContent = done; }
  });
});
