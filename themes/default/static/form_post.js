// Submits the form_post response form at once; without JavaScript the user presses Continue.
(function () {
  var form = document.getElementById("form-post");
  if (form && form.getAttribute("data-auto-submit") === "true") {
    form.submit();
  }
})();
