// The static report (`lite-tracker report`): metric curves and parallel coordinates over the data inlined in
// the page. Labels go through Charts.escapeForPlotly; the table is rendered (escaped) by the template.
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const $ = (id) => document.getElementById(id);
  const names = Object.fromEntries(data.runs.map((r) => [r.run_id, r.run_name || r.run_id]));
  const E = Charts.escapeForPlotly;
  const LEGEND_MAX = 20;  // more runs than this: names on hover only

  data.metric_keys.forEach((key, i) => {
    const div = $("curve-" + i);
    if (!div) return;
    const series = data.series.filter((s) => s.key === key);
    Plotly.newPlot(div, Charts.curveTraces(series, names, { x: "step", smoothing: 0 }), Charts.layout({
      title: { text: E(key) },
      showlegend: series.length <= LEGEND_MAX,
      xaxis: { title: { text: Charts.xTitle.step } },
      yaxis: { title: { text: E(key) } },
    }), Charts.config);
  });

  function parcoords() {
    const key = $("parcoords-metric").value;
    const metric = data.metrics.find((m) => m.key === key);
    Plotly.react($("chart-parcoords"), [Charts.parcoordsTrace(data.params, metric)],
      Charts.layout(Charts.parcoordsLayout), Charts.config);
  }

  if ($("chart-parcoords")) {
    $("parcoords-metric").addEventListener("change", parcoords);
    parcoords();
  }
})();
