// The Reveal Secret page's copy button (a file, because the pages' CSP allows no inline script).
(function () {
  "use strict";
  var button = document.getElementById("copy-secret-key");
  if (!button) { return; }
  var field = document.getElementById(button.getAttribute("data-copy"));
  var status = document.getElementById("copy-status");
  button.addEventListener("click", function () {
    var done = function () { status.textContent = "Copied."; };
    var fallback = function () {
      field.focus();
      field.select();
      try {
        document.execCommand("copy");
        done();
      } catch (e) {
        status.textContent = "Select the key and copy it by hand.";
      }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, fallback);
    } else {
      fallback();
    }
  });
}());
