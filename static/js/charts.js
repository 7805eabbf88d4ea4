// Draws <canvas data-chart='{"kind": ..., "labels": [...], "series": [...], "money": bool}'> with Chart.js.
// The server sends plain data (app/web/charts.py); colours, axes and tooltips are decided here.
(function () {
  "use strict";

  var PALETTE = ["#0d6efd", "#20c997", "#fd7e14", "#6f42c1", "#dc3545", "#198754", "#0dcaf0", "#ffc107",
    "#d63384", "#6610f2", "#6c757d", "#adb5bd", "#343a40"];

  function money(value) {
    var v = Number(value) || 0;
    var digits = Math.abs(v) >= 1 || v === 0 ? 2 : 6;
    return "$" + v.toFixed(digits).replace(/(\.\d*?[1-9])0+$/, "$1").replace(/\.0+$/, ".00");
  }

  function config(spec) {
    var fmt = spec.money ? money : function (v) { return Number(v).toLocaleString(); };
    var datasets = spec.series.map(function (s, i) {
      var colour = PALETTE[i % PALETTE.length];
      if (spec.kind === "doughnut") {
        return { label: s.label, data: s.data, backgroundColor: s.data.map(function (_, j) {
          return PALETTE[j % PALETTE.length]; }) };
      }
      return { label: s.label, data: s.data, backgroundColor: colour, borderColor: colour,
        tension: 0.25, fill: false, pointRadius: spec.labels.length > 60 ? 0 : 2 };
    });
    var type = spec.kind === "stacked-bar" ? "bar" : spec.kind;
    var options = {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: {
        legend: { display: spec.kind !== "bar", position: "bottom", labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: function (ctx) {
          var value = ctx.parsed && typeof ctx.parsed === "object" ? ctx.parsed.y : ctx.parsed;
          return (ctx.dataset.label || ctx.label) + ": " + fmt(value);
        } } }
      }
    };
    if (spec.kind !== "doughnut") {
      var stacked = spec.kind === "stacked-bar";
      options.scales = {
        x: { stacked: stacked, ticks: { maxRotation: 0, autoSkip: true } },
        y: { stacked: stacked, beginAtZero: true,
          ticks: { precision: spec.money ? undefined : 0, callback: function (v) { return fmt(v); } } }
      };
    }
    return { type: type, data: { labels: spec.labels, datasets: datasets }, options: options };
  }

  function draw(root) {
    if (!window.Chart) return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var spec;
      try { spec = JSON.parse(canvas.getAttribute("data-chart")); } catch (e) { return; }
      var old = window.Chart.getChart(canvas);
      if (old) old.destroy();
      new window.Chart(canvas, config(spec));
      canvas.setAttribute("data-chart-ready", "true");
    });
  }

  if (window.htmx) {
    window.htmx.onLoad(draw);
  } else {
    document.addEventListener("DOMContentLoaded", function () { draw(document); });
  }
})();
