// The API explorer: Swagger UI from local assets; "try it out" rides on the browser session,
// so writes carry the session's CSRF token (the gate demands it for cookie-authenticated writes).
window.addEventListener("load", function () {
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  window.ui = SwaggerUIBundle({
    url: document.body.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    requestInterceptor: function (request) {
      var method = (request.method || "GET").toUpperCase();
      if (["GET", "HEAD", "OPTIONS"].indexOf(method) === -1) {
        request.headers["X-CSRFToken"] = csrf;
      }
      request.credentials = "same-origin";
      return request;
    },
  });
});
