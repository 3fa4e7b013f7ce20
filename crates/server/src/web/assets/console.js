// Console helpers: live countdowns to expiry, and itemized capture lines.
(function () {
  function fmt(ms) {
    if (ms <= 0) return 'expired';
    const h = Math.floor(ms / 3600000), m = Math.floor((ms % 3600000) / 60000);
    return h >= 48 ? Math.floor(h / 24) + ' d ' + (h % 24) + ' h' : h + ' h ' + m + ' min';
  }
  function tick() {
    document.querySelectorAll('.countdown').forEach(function (el) {
      const t = Date.parse(el.dataset.expires);
      if (!isNaN(t)) { el.textContent = fmt(t - Date.now()); el.title = el.dataset.expires; }
    });
  }
  tick(); setInterval(tick, 30000);

  const lines = document.getElementById('lines');
  const add = document.getElementById('add-line');
  const total = document.getElementById('total');
  if (!lines || !add) return;
  function sum() {
    let cents = 0;
    lines.querySelectorAll('input[name=amount]').forEach(function (i) {
      const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(i.value.trim());
      if (m) cents += parseInt(m[1], 10) * 100 + parseInt((m[2] || '0').padEnd(2, '0'), 10);
    });
    total.textContent = (cents / 100).toFixed(2);
  }
  lines.addEventListener('input', sum);
  add.addEventListener('click', function () {
    const n = lines.querySelectorAll('fieldset').length;
    const f = lines.querySelector('fieldset').cloneNode(true);
    f.querySelector('legend').textContent = 'Line ' + (n + 1);
    f.querySelectorAll('input').forEach(function (i) { i.value = ''; i.id = i.id.replace(/-\d+$/, '-' + n); });
    f.querySelectorAll('label').forEach(function (l) { l.htmlFor = l.htmlFor.replace(/-\d+$/, '-' + n); });
    lines.appendChild(f);
    f.querySelector('input').focus();
  });
})();
