// Submits the SSO start form at once (a script of this origin: the page CSP forbids inline ones).
document.getElementById("sso-start").submit();
