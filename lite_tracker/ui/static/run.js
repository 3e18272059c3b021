// Run page: description editing, one chart per metric, artifact browser with previews and downloads.
"use strict";

(() => {
  const { el, data } = LT;
  const $ = (id) => document.getElementById(id);
  const runId = data.run.run_id;
  const base = `/api/lite/runs/${encodeURIComponent(runId)}/artifacts`;
  const E = Charts.escapeForPlotly;

  const save = $("note-save");
  if (save) {
    save.addEventListener("click", () => LT.attempt(async () => {
      await LT.post(`/api/lite/runs/${encodeURIComponent(runId)}/note`, { note: $("note").value });
      LT.flash("Description saved.", "ok");
    }));
  }

  async function charts() {
    const box = $("run-charts");
    if (!box) return;
    const resp = await LT.attempt(() => LT.get("/api/lite/metrics/bulk?" + LT.query({ run_ids: runId, max_points: 500 })));
    if (!resp) return;
    // Each chart is drawn when it scrolls into view: a run with hundreds of metrics stays quick to open.
    const pending = new Map();
    const observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (!e.isIntersecting || !pending.has(e.target)) continue;
        const s = pending.get(e.target);
        pending.delete(e.target);
        observer.unobserve(e.target);
        Plotly.newPlot(e.target, Charts.curveTraces([s], { [runId]: s.key }, { x: "step", smoothing: 0 }),
          Charts.layout({ title: { text: E(s.key) }, showlegend: false, height: 260, xaxis: { title: { text: "step" } } }),
          Charts.config);
      }
    });
    for (const s of resp.series) {
      const div = el("div", { class: "chart small-chart", dataset: { key: s.key } });
      box.append(div);
      pending.set(div, s);
      observer.observe(div);
    }
  }

  const fileUrl = (path, download) => `${base}/file?` + LT.query({ path, download: download ? 1 : null });

  function showPreview(p) {
    const box = $("artifact-preview");
    const header = el("div", { class: "preview-head" }, el("span", { class: "mono" }, p.path),
      el("span", { class: "hint" }, ` ${p.size} bytes `),
      el("a", { href: fileUrl(p.path, true), download: p.path.split("/").pop(), class: "download" }, "Download"));
    let body;
    if (p.kind === "image") body = el("img", { src: fileUrl(p.path, false), alt: p.path, class: "preview-image" });
    else if (p.kind === "text" || p.kind === "json") body = el("pre", { class: "preview-text" }, p.text);
    else if (p.kind === "csv") {
      const [head, ...rows] = p.rows;
      body = el("table", { class: "grid preview-csv" },
        el("thead", {}, el("tr", {}, (head || []).map((h) => el("th", {}, h)))),
        el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c))))));
    } else body = el("p", { class: "hint" }, "No preview for this file type.");
    box.replaceChildren(header, body, p.truncated ? el("p", { class: "hint" }, "(truncated)") : "");
  }

  function entry(f) {
    const name = f.path.split("/").pop();
    if (f.is_dir) {
      const children = el("ul", { class: "tree-children", hidden: true });
      let loaded = false;
      const label = el("a", { href: "#", class: "tree-dir", onclick: (ev) => {
        ev.preventDefault();
        if (!loaded) { loaded = true; list(f.path, children); }
        children.hidden = !children.hidden;
        label.classList.toggle("open", !children.hidden);
      } }, name + "/");
      return el("li", {}, label, " ",
        el("a", { href: `${base}/zip?` + LT.query({ path: f.path }), class: "hint", download: name + ".zip" }, "zip"), children);
    }
    return el("li", {},
      el("a", { href: "#", class: "tree-file", dataset: { path: f.path }, onclick: (ev) => {
        ev.preventDefault();
        LT.attempt(async () => showPreview(await LT.get(`${base}/preview?` + LT.query({ path: f.path }))));
      } }, name),
      el("span", { class: "hint" }, ` ${f.file_size ?? ""} `),
      el("a", { href: fileUrl(f.path, true), class: "hint download", download: name }, "download"));
  }

  async function list(path, into) {
    const resp = await LT.attempt(() => LT.get(`${base}?` + LT.query({ path })));
    if (!resp) return;
    into.replaceChildren(...(resp.files.length ? resp.files.map(entry) : [el("li", { class: "hint" }, "empty")]));
  }

  const root = el("ul", { class: "tree-root" });
  $("artifact-tree").replaceChildren(root);
  list("", root);
  charts();
})();
