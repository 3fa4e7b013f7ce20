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
  // Amounts are typed in major units and summed in minor units with BigInt,
  // never floats, by the currency's exponent (2 for USD, 0 for JPY, 3 for
  // KWD), and written as the server writes them ("$1,234.50", "¥2,500").
  const form = document.getElementById('capture-form');
  const exponent = parseInt(form.dataset.exponent, 10);
  const symbol = form.dataset.symbol;
  const amountPattern = exponent > 0 ? new RegExp('^(\\d+)(?:\\.(\\d{1,' + exponent + '}))?$') : /^(\d+)$/;
  function toMinor(text) {
    const m = amountPattern.exec(text.trim());
    if (!m) return null;
    return BigInt(m[1]) * 10n ** BigInt(exponent) + BigInt((m[2] || '').padEnd(exponent, '0') || '0');
  }
  function format(minor) {
    const per = 10n ** BigInt(exponent);
    const major = (minor / per).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return symbol + major + (exponent > 0 ? '.' + (minor % per).toString().padStart(exponent, '0') : '');
  }
  function sum() {
    let minor = 0n;
    lines.querySelectorAll('input[name=amount]').forEach(function (i) {
      const v = toMinor(i.value);
      if (v !== null) minor += v;
    });
    total.textContent = format(minor);
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
