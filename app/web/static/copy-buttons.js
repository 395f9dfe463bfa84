// Copy buttons for a value shown once (a new key, token or secret). Loaded as a file (the page
// CSP allows no inline script); without scripts the buttons stay hidden and the read-only
// fields can still be selected and copied by hand.
(function () {
  "use strict";

  var status = document.getElementById("copy-status");

  function say(message) {
    if (status) {
      status.textContent = message;
    }
  }

  function copyField(field) {
    var text = field.value;
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Older browsers and plain-HTTP origins: select the field and copy the selection.
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
      var what = button.textContent.replace(/^Copy\s+/, "");
      copyField(field).then(
        function () { say("Copied the " + what + " to the clipboard."); },
        function () {
          field.focus();
          field.select();
          say("Copying was refused: the " + what + " is selected, press Ctrl+C (or Cmd+C).");
        }
      );
    });
  });
})();
