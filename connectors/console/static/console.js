// tap365 console: progressive enhancement only. Every page and action works without this file.
(function () {
  "use strict";
  // A form with data-confirm asks before it is sent (release, delete, block).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  // A checkbox with data-select-all="name" ticks or clears every checkbox of that name.
  document.addEventListener("change", function (event) {
    var box = event.target;
    var name = box && box.getAttribute && box.getAttribute("data-select-all");
    if (!name) { return; }
    var boxes = document.querySelectorAll('input[type="checkbox"][name="' + name.replace(/"/g, "") + '"]');
    for (var i = 0; i < boxes.length; i++) { boxes[i].checked = box.checked; }
  });
  // A select inside form.filters[data-autosubmit] sends the filter form when changed.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.tagName === "SELECT" && el.form && el.form.hasAttribute("data-autosubmit")) {
      el.form.submit();
    }
  });
}());
