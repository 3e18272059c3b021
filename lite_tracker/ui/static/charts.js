// Chart helpers over plotly.js (served from the installed plotly package).
"use strict";

const Charts = (() => {
  const base = {
    margin: { l: 55, r: 15, t: 30, b: 45 },
    hovermode: "closest",
    legend: { orientation: "h", y: -0.2 },
    font: { size: 12 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#fff",
  };
  const config = { responsive: true, displaylogo: false };

  function layout(extra) {
    return Object.assign({}, base, extra || {});
  }

  // Exponential moving average with TensorBoard's debiasing; null gaps stay gaps.
  function smooth(values, weight) {
    if (!weight) return values;
    let last = 0, n = 0;
    return values.map((v) => {
      if (v === null) return null;
      last = last * weight + (1 - weight) * v;
      n += 1;
      return last / (1 - Math.pow(weight, n));
    });
  }

  function xValues(series, mode) {
    if (mode === "wall") return series.timestamps.map((t) => new Date(t));
    if (mode === "relative") {
      const t0 = series.timestamps.length ? Math.min(...series.timestamps) : 0;
      return series.timestamps.map((t) => (t - t0) / 1000);
    }
    return series.steps;
  }

  const xTitle = { step: "step", wall: "wall time", relative: "relative time (s)" };

  function curveTraces(seriesList, names, opts) {
    return seriesList.map((s) => ({
      type: s.steps.length > 5000 ? "scattergl" : "scatter",
      mode: s.steps.length === 1 ? "markers" : "lines",
      name: escapeForPlotly(names[s.run_id] || s.run_id),
      x: xValues(s, opts.x),
      y: smooth(s.values, opts.smoothing),
      hovertemplate: `%{y:.6g} @ %{x}<extra>${escapeForPlotly(names[s.run_id] || s.run_id)}</extra>`,
    }));
  }

  // Plotly renders trace names and templates as (limited) HTML: encode the characters that matter.
  function escapeForPlotly(text) {
    return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  return { layout, config, smooth, curveTraces, xTitle, escapeForPlotly };
})();
