// Send cookieguard's CSRF token with every HTMX request, in the header the page names.
//
// The token is read when each request is made, never once at page load: hx-boost swaps only
// the <body>, so anything kept from the first page (a <meta> in <head>, hx-headers on <body>)
// is stale once the secret rotates (at login). The csrftoken cookie always holds the current
// secret, which the middleware accepts in the header as Django does. The <meta> tags from
// csrf_meta(request) name the header and, for a site that keeps the secret in the session
// (no cookie), carry a token.
(function () {
  "use strict";
  var COOKIE = "csrftoken";

  function meta(name) {
    var tag = document.querySelector('meta[name="' + name + '"]');
    return tag ? tag.getAttribute("content") : null;
  }

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      if (parts[i].indexOf(name + "=") === 0) return parts[i].slice(name.length + 1);
    }
    return null;
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var token = cookie(COOKIE) || meta("csrf-token");
    if (token) event.detail.headers[meta("csrf-header") || "X-CSRFToken"] = token;
  });

  // An error page (403 for a stale token, 404, 413, 503) is a whole document: show it in
  // place of the page, as a browser would without JavaScript. A 400 from the records form is
  // its fragment with the error message, swapped where the fragment goes.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status < 400) return;
    event.detail.shouldSwap = true;
    event.detail.isError = false;
    if (/^\s*<!doctype/i.test(event.detail.serverResponse)) {
      event.detail.target = document.body;
      event.detail.swapOverride = "innerHTML";
    }
  });
})();
