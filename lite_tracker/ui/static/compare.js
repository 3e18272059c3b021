// Compare view: overlaid metric curves (downsampled bulk histories), parallel coordinates, scatter.
"use strict";

(() => {
  const { data } = LT;
  const $ = (id) => document.getElementById(id);
  const runIds = data.runs.map((r) => r.run_id);
  const names = Object.fromEntries(data.runs.map((r) => [r.run_id, r.run_name || r.run_id]));
  const E = Charts.escapeForPlotly;
  const cache = {};

  async function curves() {
    const key = $("curve-metric").value;
    const div = $("chart-curves");
    if (!key) {
      div.textContent = "No metrics logged by these runs.";
      return;
    }
    if (!cache[key]) {
      const resp = await LT.attempt(() => LT.get("/api/lite/metrics/bulk?" + LT.query({ run_ids: runIds.join(","), keys: key, max_points: 1000 })));
      if (!resp) return;
      cache[key] = resp.series;
    }
    const x = $("curve-x").value;
    const smoothing = Number($("curve-smooth").value);
    $("curve-smooth-value").textContent = smoothing.toFixed(2);
    const traces = Charts.curveTraces(cache[key], names, { x, smoothing });
    Plotly.react(div, traces, Charts.layout({
      title: { text: E(key) },
      xaxis: { title: { text: Charts.xTitle[x] }, type: x === "wall" ? "date" : "linear" },
      yaxis: { title: { text: E(key) }, type: $("curve-y").value },
    }), Charts.config);
  }

  function paramValues(key) {
    const row = data.params.find((p) => p.key === key);
    return row ? row.values : [];
  }

  function metricValues(key) {
    const row = data.metrics.find((m) => m.key === key);
    return row ? row.values.map((v) => (typeof v === "number" ? v : null)) : [];
  }

  function values(spec) {
    const [kind, ...rest] = spec.split(".");
    const key = rest.join(".");
    return kind === "params" ? paramValues(key) : metricValues(key);
  }

  // A parcoords dimension: numeric when every present value is a number, else categories.
  function dimension(label, vals) {
    const present = vals.filter((v) => v !== null && v !== undefined && v !== "");
    const numeric = present.length > 0 && present.every((v) => !isNaN(Number(v)));
    if (numeric) return { label, values: vals.map((v) => (v === null || v === undefined || v === "" ? NaN : Number(v))) };
    const cats = [...new Set(present.map(String))].sort();
    return {
      label, values: vals.map((v) => cats.indexOf(String(v))),
      tickvals: cats.map((_, i) => i), ticktext: cats,
    };
  }

  function parcoords() {
    const key = $("parcoords-metric").value;
    const div = $("chart-parcoords");
    if (!key || !data.params.length) {
      div.textContent = "Parallel coordinates need params and a metric.";
      return;
    }
    const color = metricValues(key);
    const differing = data.params.filter((p) => p.differs);
    const dims = (differing.length ? differing : data.params).map((p) => dimension(p.key, p.values));
    dims.push(dimension(key, color));
    Plotly.react(div, [{
      type: "parcoords",
      line: { color: color.map((v) => (v === null ? NaN : v)), colorscale: "Viridis", showscale: true },
      dimensions: dims,
    }], Charts.layout({ margin: { l: 110, r: 60, t: 50, b: 30 } }), Charts.config);
  }

  function scatter() {
    const xs = $("scatter-x").value, ys = $("scatter-y").value;
    const div = $("chart-scatter");
    if (!xs || !ys) {
      div.textContent = "A scatter needs a metric.";
      return;
    }
    const xv = values(xs), yv = values(ys);
    const numericX = xv.every((v) => v === null || v === undefined || !isNaN(Number(v)));
    Plotly.react(div, [{
      type: "scatter", mode: "markers", marker: { size: 10 },
      x: xv.map((v) => (numericX && v !== null && v !== undefined ? Number(v) : v)), y: yv,
      text: data.runs.map((r) => E(names[r.run_id])),
      hovertemplate: "%{text}<br>x=%{x}<br>y=%{y}<extra></extra>",
    }], Charts.layout({ xaxis: { title: { text: E(xs) }, type: numericX ? "linear" : "category" },
      yaxis: { title: { text: E(ys) } } }), Charts.config);
  }

  const firstDiffering = data.params.find((p) => p.differs);
  if (firstDiffering) $("scatter-x").value = "params." + firstDiffering.key;
  for (const id of ["curve-metric", "curve-x", "curve-y", "curve-smooth"]) $(id).addEventListener("input", curves);
  $("parcoords-metric").addEventListener("change", parcoords);
  $("scatter-x").addEventListener("change", scatter);
  $("scatter-y").addEventListener("change", scatter);
  // Curves first; parallel coordinates (WebGL, slow without a GPU) only once scrolled into view.
  curves().then(() => {
    scatter();
    new IntersectionObserver((entries, observer) => {
      if (entries.some((e) => e.isIntersecting)) {
        observer.disconnect();
        parcoords();
      }
    }).observe($("chart-parcoords"));
  });
})();
