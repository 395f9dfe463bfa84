// The tenant administration pages: the copy button of a new API key. Loaded as a file (the
// page CSP allows no inline script); without scripts the button stays hidden and the
// read-only field can still be selected and copied by hand.
(function () {
  "use strict";

  var status = document.getElementById("copy-status");

  function say(message) {
    if (status) {
      status.textContent = message;
    }
  }

  function copyField(field) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(field.value);
    }
    // Plain-HTTP origins: select the field and copy the selection.
    field.focus();
    field.select();
    var copied = document.execCommand && document.execCommand("copy");
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      copyField(field).then(
        function () { say("Copied the key to the clipboard."); },
        function () {
          field.focus();
          field.select();
          say("Copying was refused: the key is selected, press Ctrl+C (or Cmd+C).");
        }
      );
    });
  });
})();
