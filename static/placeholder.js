// The no-build placeholder page (index.html): shows GET /api/health.
// Served as a separate same-origin file: the CSP forbids inline scripts.
'use strict';

(function () {
  var statusEl = document.getElementById('status');
  var detailsEl = document.getElementById('details');

  function show(text, cls, body) {
    statusEl.textContent = text;
    statusEl.className = 'status ' + cls;
    if (body) {
      detailsEl.textContent = body;
      detailsEl.hidden = false;
    }
  }

  fetch('/api/health', { headers: { Accept: 'application/json' }, cache: 'no-store' })
    .then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = JSON.parse(text); } catch (e) { /* not JSON */ }
        var state = data && typeof data.status === 'string' ? data.status : 'HTTP ' + res.status;
        var pretty = data ? JSON.stringify(data, null, 2) : text;
        show(state, res.ok ? 'ok' : 'bad', pretty);
      });
    })
    .catch(function (err) {
      show('unreachable', 'bad', String(err));
    });
})();
