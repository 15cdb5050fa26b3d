// Live progress of an access lookup: asks the status URL once a second and updates the list;
// reloads the page when the lookup is finished, so the document links appear. Without
// JavaScript the page refreshes itself instead (a <noscript> meta refresh).
"use strict";
(function () {
  var box = document.getElementById("lookup");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var list = document.getElementById("processors");
  var state = document.getElementById("lookup-state");

  function show(status) {
    state.textContent = status.state_label;
    status.processors.forEach(function (p) {
      var item = list.querySelector('li[data-name="' + CSS.escape(p.name) + '"]');
      if (!item) {
        item = document.createElement("li");
        item.setAttribute("data-name", p.name);
        var name = document.createElement("strong");
        name.textContent = p.name;
        item.appendChild(name);
        item.appendChild(document.createTextNode(": "));
        item.appendChild(document.createElement("span"));
        list.appendChild(item);
      }
      item.querySelector("span").textContent = p.label;
    });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (!status) { return; }
        show(status);
        if (status.finished) { window.location.reload(); return; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 1000);
}());
