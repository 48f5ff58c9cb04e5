// Dosewise clinician UI: draws the charts of a page from the JSON it carries (<script type="application/json">), with the
// vendored Chart.js. No data leaves the page and nothing is stored in the browser.
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");  // after a refused form: the list of what to fix, read first
  if (summary) { summary.focus(); }
  if (typeof Chart === "undefined") { return; }
  var BLUE = "#0b57d0", GREY = "#5f6368", GREEN = "rgba(30,107,52,0.14)", ORANGE = "#b06000", BLACK = "#1a1a1a";
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#1a1a1a";
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;

  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function points(xs, ys) {
    var out = [];
    for (var i = 0; i < xs.length; i++) {
      if (ys[i] !== null && ys[i] === ys[i]) { out.push({ x: xs[i], y: ys[i] }); }
    }
    return out;
  }
  // "INR", "{INR}" or "1" next to the name INR says nothing: the axis is named without it
  var unitless = function (unit, name) {
    var u = (unit || "").replace(/[{}]/g, "").toLowerCase();
    return !u || u === "1" || u === name.toLowerCase();
  };
  var hideFromLegend = function (item, chart) { return !chart.datasets[item.datasetIndex].legendHidden; };

  // Q-value of every action, one row each (labels are sentences): a dot at the mean over the heads, and a bar of ±1 SD
  // across the ensemble's heads where the policy has heads. A dot, not a bar from 0: a Q of 0 would be no bar at all.
  var q = data("q-data");
  if (q) {
    var colour = q.allowed.map(function (a, i) { return !a ? "#9aa0a6" : q.chosen[i] ? BLUE : "#5e97f6"; });
    var labels = q.labels.map(function (l, i) { return (q.chosen[i] ? "▶ " : "") + l + (q.allowed[i] ? "" : " (masked)"); });
    var spread = [];
    q.q.forEach(function (v, i) { var s = q.sd[i]; if (s !== null) { spread.push({ y: labels[i], x: [v - s, v + s] }); } });
    var lows = q.q.map(function (v, i) { return v - (q.sd[i] || 0); }), highs = q.q.map(function (v, i) { return v + (q.sd[i] || 0); });
    var qmin = Math.min.apply(null, lows), qmax = Math.max.apply(null, highs), pad = 0.08 * ((qmax - qmin) || 1);
    var canvas = document.getElementById("q-chart");
    var narrow = canvas.parentNode.clientWidth < 560;
    var wrap = function (text) {  // long action sentences on two or three lines rather than cut off on a phone
      if (!narrow || text.length <= 24) { return text; }
      var lines = [], line = "";
      text.split(" ").forEach(function (w) {
        if (line && (line + " " + w).length > 24) { lines.push(line); line = w; } else { line = line ? line + " " + w : w; }
      });
      return lines.concat([line]);
    };
    canvas.parentNode.style.height = Math.max(12, 4 + (narrow ? 3.2 : 1.9) * q.q.length) + "rem";
    new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [
        { label: "Q (mean over heads)", type: "line", data: q.q.map(function (v, i) { return { y: labels[i], x: v }; }),
          showLine: false, pointRadius: q.chosen.map(function (c) { return c ? 9 : 6; }), pointBackgroundColor: colour,
          pointBorderColor: colour, borderColor: BLUE, backgroundColor: BLUE, order: 1 },
        { label: "ensemble spread (±1 SD)", data: spread, backgroundColor: "rgba(26,26,26,0.35)", barPercentage: 0.35,
          order: 2 } ] },
      options: { indexAxis: "y",
                 scales: { x: { suggestedMin: qmin - pad, suggestedMax: qmax + pad, ticks: { maxTicksLimit: 7 }, title: { display: true, text: "estimated value (higher is better)" } },
                           y: { ticks: { autoSkip: false, crossAlign: "far", callback: function (v) { return wrap(labels[v]); } } } },
                 plugins: { legend: { position: "bottom" } } }
    });
  }

  // Forecast: target band, recommended vs keeping the dose with their 80 % bands, the measurements.
  var f = data("forecast-data");
  if (f) {
    var fc = f.forecast, days = fc.days_after_decision, lo = fc.target_band[0], hi = fc.target_band[1];
    var xs = [0].concat(days), span = [Math.min.apply(null, [0].concat((fc.measured || {}).days_after_decision || [])), xs[xs.length - 1]];
    var series = [
      { label: "target " + lo + "–" + hi, data: [{ x: span[0], y: hi }, { x: span[1], y: hi }], borderColor: "rgba(30,107,52,0.5)",
        backgroundColor: GREEN, fill: { value: lo }, pointRadius: 0, borderWidth: 1 }
    ];
    [["recommended", "recommended_80pct", "recommended (" + f.label + ")", BLUE, "rgba(11,87,208,0.15)", []],
     ["keep_dose", "keep_dose_80pct", "keep the current dose", GREY, "rgba(95,99,104,0.15)", [6, 4]]].forEach(function (s) {
      var band = fc[s[1]];
      if (band) {
        series.push({ label: s[2] + " 80 % low", data: points(days, band[0]), borderWidth: 0, pointRadius: 0, fill: false,
                      legendHidden: true });
        series.push({ label: s[2] + ": 80 % band", data: points(days, band[1]), borderWidth: 0, pointRadius: 0, fill: "-1",
                      backgroundColor: s[4] });
      }
      series.push({ label: s[2], data: points(days, fc[s[0]]), borderColor: s[3], backgroundColor: s[3], borderDash: s[5],
                    borderWidth: 2, pointRadius: 3, fill: false });
    });
    var m = fc.measured || {};
    if (m.values && m.values.length) {
      series.push({ label: "measured", type: "scatter", data: points(m.days_after_decision, m.values), borderColor: BLACK,
                    backgroundColor: m.used_in_fit.map(function (u) { return u ? BLACK : "#fff"; }), pointRadius: 5 });
    }
    var name = fc.observation === "inr" ? "INR" : fc.observation.replace(/_/g, " ");
    new Chart(document.getElementById("forecast-chart"), {
      type: "line", data: { datasets: series },
      options: { parsing: true, scales: {
          x: { type: "linear", title: { display: true, text: "days from the decision (0)" } },
          y: { title: { display: true, text: unitless(fc.unit, name) ? name : name + " (" + fc.unit + ")" } } },
        plugins: { legend: { position: "bottom", labels: { filter: hideFromLegend } } } }
    });
  }

  // Performance: the efficacy and the adverse-event metric, policy vs guideline, each a mean with its 95 % CI.
  Array.prototype.forEach.call(document.querySelectorAll("canvas.perf-chart"), function (canvas) {
    var d = JSON.parse(canvas.getAttribute("data-chart"));
    new Chart(canvas, {
      type: "bar",
      data: { labels: ["policy", "guideline"], datasets: [
        { label: "mean", type: "line", data: [d.policy[1], d.guideline[1]], showLine: false, pointRadius: 7,
          borderColor: BLUE, backgroundColor: BLUE, order: 1 },
        { label: "95 % confidence interval", data: [[d.policy[0], d.policy[2]], [d.guideline[0], d.guideline[2]]],
          backgroundColor: ["rgba(11,87,208,0.35)", "rgba(95,99,104,0.35)"], barPercentage: 0.4, order: 2 } ] },
      options: { indexAxis: "y", plugins: { legend: { position: "bottom" },
                 title: { display: true, text: d.metric + " (" + d.role + ")" } } }
    });
  });

  // Patient course: one time axis (days, labelled with dates) for doses, measurements and recommendations.
  var c = data("course-data");
  if (c) {
    var all = [].concat(c.doses, c.decisions);
    Object.keys(c.measurements).forEach(function (k) { all = all.concat(c.measurements[k].points); });
    var t0 = Math.min.apply(null, all.map(function (p) { return Date.parse(p.t); }));
    var day = function (t) { return (Date.parse(t) - t0) / 86400000; };
    var xy = function (ps) { return ps.map(function (p) { return { x: day(p.t), y: p.y }; }); };
    var ds = [{ label: "dose given (" + c.dose_unit + ")", type: "bar", data: xy(c.doses), backgroundColor: "rgba(11,87,208,0.35)",
                yAxisID: "dose", barThickness: 6 }];
    var colours = [ORANGE, "#6a1b9a", "#00796b"];
    Object.keys(c.measurements).forEach(function (k, i) {
      var mk = c.measurements[k];
      var kname = k === "inr" ? "INR" : k.replace(/_/g, " ");
      ds.push({ label: kname + (unitless(mk.unit, kname) ? "" : " (" + mk.unit + ")"),
                type: "line", data: xy(mk.points), borderColor: colours[i % 3], backgroundColor: colours[i % 3],
                yAxisID: "obs", pointRadius: 4 });
    });
    [["accepted", "circle", "#1e6b34"], ["overridden", "triangle", "#b3261e"], ["pending", "rect", GREY]].forEach(function (s) {
      var ps = c.decisions.filter(function (d) { return d.status === s[0]; });
      if (ps.length) {
        ds.push({ label: "recommended, " + s[0], type: "scatter", data: xy(ps), pointStyle: s[1], pointRadius: 8,
                  borderColor: s[2], backgroundColor: s[2], yAxisID: "dose" });
      }
    });
    var date = function (v) { return new Date(t0 + v * 86400000).toISOString().slice(5, 10); };
    new Chart(document.getElementById("course-chart"), {
      type: "line", data: { datasets: ds },
      options: { scales: {
          x: { type: "linear", title: { display: true, text: "date (UTC, month-day)" }, ticks: { callback: date } },
          dose: { type: "linear", position: "left", beginAtZero: true, grace: "10%", title: { display: true, text: "dose (" + c.dose_unit + "/day)" } },
          obs: { type: "linear", position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: Object.keys(c.measurements).map(function (k) { return k === "inr" ? "INR" : k.replace(/_/g, " "); }).join(", ") || "measurement" } } },
        plugins: { legend: { position: "bottom" },
                   tooltip: { callbacks: { title: function (items) { return items.length ? date(items[0].parsed.x) : ""; } } } } }
    });
  }
})();
