/* filewall support desk: the little script the pages need. Served by the app (CSP 'self').
 *
 * Nothing uploaded is ever rendered here: results arrive as HTML fragments rendered and
 * escaped by the server (/reports/<id>/card); file names typed into the page are only ever
 * set with textContent.
 */
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }

  function humanSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    var units = ["KB", "MB", "GB"], value = bytes / 1024, i = 0;
    while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
    return value.toFixed(value < 10 ? 1 : 0) + " " + units[i];
  }

  function safeNext(value) {
    // Only a path on this site: "/x" but never "//host" or "/\host".
    if (typeof value === "string" && /^\/(?![\/\\])/.test(value)) return value;
    return "/";
  }

  /* -- logout (every page) ------------------------------------------------------------ */
  function setupLogout() {
    var buttons = document.querySelectorAll("[data-action='logout']");
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener("click", function () {
        fetch("/api/v1/logout", { method: "POST", credentials: "same-origin",
                                   headers: { "X-Requested-With": "filewall" } })
          .finally(function () { window.location.assign("/login"); });
      });
    });
  }

  /* -- login ---------------------------------------------------------------------------- */
  function setupLogin() {
    var form = $("login-form");
    if (!form) return;
    var error = $("login-error");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      error.textContent = "";
      var body = JSON.stringify({ username: form.username.value, password: form.password.value });
      fetch("/api/v1/login", {
        method: "POST", credentials: "same-origin", body: body,
        headers: { "Content-Type": "application/json", "X-Requested-With": "filewall" }
      }).then(function (response) {
        if (response.ok) {
          return response.json().catch(function () { return {}; }).then(function (data) {
            var next = form.getAttribute("data-next");
            var role = data && data.user ? data.user.role : (data ? data.role : "");
            if (!next || next === "/") next = (role === "owner" || role === "admin") ? "/history" : "/";
            window.location.assign(safeNext(next));
          });
        }
        error.textContent = form.getAttribute(response.status === 429 ? "data-msg-busy" : "data-msg-failed");
      }).catch(function () {
        error.textContent = form.getAttribute("data-msg-failed");
      });
    });
  }

  /* -- agent page: drop, choose, send, show --------------------------------------------- */
  function setupAgent() {
    var form = $("scan-form");
    if (!form) return;
    var zone = $("dropzone"), input = $("file-input"), list = $("file-list");
    var errorBox = $("scan-error"), button = $("check-button");
    var progress = $("progress"), progressText = $("progress-text"), fill = $("progress-fill");
    var results = $("results"), resultsSection = $("results-section");
    var maxFiles = parseInt(form.getAttribute("data-max-files"), 10) || 20;
    var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10) || 100 * 1048576;
    var files = [];

    function msg(name) { return form.getAttribute("data-msg-" + name) || ""; }

    function render() {
      list.textContent = "";
      files.forEach(function (file, index) {
        var item = document.createElement("li");
        var name = document.createElement("span");
        name.className = "fname";
        name.textContent = file.name;
        var size = document.createElement("span");
        size.className = "fsize";
        size.textContent = humanSize(file.size);
        var remove = document.createElement("button");
        remove.type = "button";
        remove.title = msg("remove");
        remove.setAttribute("aria-label", msg("remove"));
        remove.textContent = "×";
        remove.addEventListener("click", function () { files.splice(index, 1); render(); });
        item.appendChild(name); item.appendChild(size); item.appendChild(remove);
        list.appendChild(item);
      });
    }

    function add(fileList) {
      errorBox.textContent = "";
      Array.prototype.forEach.call(fileList || [], function (file) { files.push(file); });
      render();
    }

    $("choose-files").addEventListener("click", function (event) { event.stopPropagation(); input.click(); });
    zone.addEventListener("click", function () { input.click(); });
    zone.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
    });
    input.addEventListener("change", function () { add(input.files); input.value = ""; });
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "dragend"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("over");
      if (event.dataTransfer) add(event.dataTransfer.files);
    });
    // A file dropped anywhere else on the page must not make the browser open it.
    window.addEventListener("dragover", function (event) { event.preventDefault(); });
    window.addEventListener("drop", function (event) { event.preventDefault(); });

    function showProgress(text, scanning, fraction) {
      progress.hidden = false;
      progress.classList.toggle("scanning", !!scanning);
      progressText.textContent = text;
      fill.style.width = scanning ? "" : Math.round((fraction || 0) * 100) + "%";
    }

    function fail(text) {
      progress.hidden = true;
      button.disabled = false;
      errorBox.textContent = text;
    }

    function loadCards(reports) {
      resultsSection.hidden = false;
      var requests = reports.map(function (report) {
        return fetch("/reports/" + encodeURIComponent(report.id) + "/card", { credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.text() : ""; });
      });
      return Promise.all(requests).then(function (fragments) {
        var holder = document.createElement("div");
        // The newest submission first; the server rendered and escaped every fragment.
        for (var i = fragments.length - 1; i >= 0; i--) {
          if (!fragments[i]) continue;
          var template = document.createElement("template");
          template.innerHTML = fragments[i];
          holder.insertBefore(template.content, holder.firstChild);
        }
        results.insertBefore(holder, results.firstChild);
        while (holder.firstChild) results.insertBefore(holder.firstChild, holder);
        holder.remove();
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      errorBox.textContent = "";
      if (!files.length) { fail(msg("no-files")); return; }
      if (files.length > maxFiles) { fail(msg("too-many")); return; }
      var total = files.reduce(function (sum, file) { return sum + file.size; }, 0);
      if (total > maxBytes) { fail(msg("too-large")); return; }

      var data = new FormData();
      files.forEach(function (file) { data.append("files", file, file.name); });
      var chat = $("chat").value.trim();
      if (chat) data.append("chat", chat);
      $("passwords").value.split(/\r?\n/).forEach(function (line) {
        var password = line.trim();
        if (password) data.append("password", password);
      });

      button.disabled = true;
      showProgress(msg("uploading"), false, 0);
      var request = new XMLHttpRequest();
      request.open("POST", "/api/v1/scans");
      request.setRequestHeader("X-Requested-With", "filewall");
      request.responseType = "json";
      request.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) showProgress(msg("uploading"), false, e.loaded / e.total);
      });
      request.upload.addEventListener("load", function () { showProgress(msg("scanning"), true); });
      request.addEventListener("load", function () {
        if (request.status === 401) { fail(msg("expired")); return; }
        var body = request.response || {};
        if (request.status < 200 || request.status >= 300 || !body.reports) {
          var reason = (body && (body.message_zh && document.body.getAttribute("data-lang") === "zh"
            ? body.message_zh : (body.message || body.detail))) || ("HTTP " + request.status);
          if (typeof reason !== "string") reason = JSON.stringify(reason);
          fail(msg("failed").replace("{reason}", reason));
          return;
        }
        showProgress(msg("scanning"), true);
        loadCards(body.reports).then(function () {
          progress.hidden = true;
          button.disabled = false;
          files = [];
          render();
          // The next files usually come from another conversation.
          $("chat").value = "";
          $("passwords").value = "";
          resultsSection.scrollIntoView({ behavior: "smooth", block: "start" });
        });
      });
      request.addEventListener("error", function () { fail(msg("failed").replace("{reason}", "network")); });
      request.send(data);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupLogout();
    setupLogin();
    setupAgent();
  });
})();
