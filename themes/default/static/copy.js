// Copy buttons: a button with data-copy="ID" copies the text of element #ID (one line per
// list item). Hidden without JavaScript; the text stays selectable and downloadable.
(function () {
  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var items = source.querySelectorAll("li");
      var text = items.length
        ? Array.prototype.map.call(items, function (li) { return li.textContent.trim(); }).join("\n")
        : source.textContent.trim();
      navigator.clipboard.writeText(text + "\n").then(function () {
        button.textContent = button.getAttribute("data-copied") || "Copied";
      });
    });
  });
})();
