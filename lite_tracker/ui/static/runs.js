// Runs table: one server-side search page at a time (page tokens), chosen columns, sort, MLflow filter
// grammar plus metric range filters compiled into it, nested runs grouped, live refresh of RUNNING runs.
"use strict";

(() => {
  const { el, data } = LT;
  const DEFAULT_COLUMNS = 8;
  const REFRESH_MS = 3000;
  const url = new URL(location.href);
  const state = {
    filter: url.searchParams.get("filter") || "",
    view: url.searchParams.get("view") || "active",
    order: url.searchParams.get("order_by") || "",
    tokens: [null],
    page: 0,
    nextToken: null,
    cols: { metrics: [], params: [], tags: [] },
    known: { metrics: [], params: [], tags: [] },
    ranges: {},
    selected: new Set(),
    collapsed: new Set(),
    rows: [],
    timer: null,
    loading: 0,
  };
  const $ = (id) => document.getElementById(id);
  const several = data.experiment_ids.length > 1;
  const expNames = Object.fromEntries(data.experiment_ids.map((id, i) => [id, data.experiment_names[i]]));

  function quoteKey(key) {
    return /^[A-Za-z_][A-Za-z0-9_.]*$/.test(key) ? key : "`" + key + "`";
  }

  function compiledFilter() {
    const parts = [];
    if (state.filter.trim()) parts.push(state.filter.trim());
    for (const [key, r] of Object.entries(state.ranges)) {
      if (r.min !== "") parts.push(`metrics.${quoteKey(key)} >= ${Number(r.min)}`);
      if (r.max !== "") parts.push(`metrics.${quoteKey(key)} <= ${Number(r.max)}`);
    }
    return parts.join(" and ");
  }

  function params(withPage) {
    return {
      experiment_ids: data.experiment_ids.join(","),
      filter: compiledFilter(),
      view: state.view,
      order_by: state.order,
      page_token: withPage ? state.tokens[state.page] : null,
      max_results: withPage ? data.page_size : null,
      metrics: state.cols.metrics.join(","),
      params: state.cols.params.join(","),
      tags: state.cols.tags.join(","),
    };
  }

  function syncUrl() {
    const u = new URL(location.href);
    for (const [k, v] of [["filter", state.filter], ["view", state.view], ["order_by", state.order]]) {
      if (v && !(k === "view" && v === "active")) u.searchParams.set(k, v); else u.searchParams.delete(k);
    }
    history.replaceState(null, "", u);
    $("csv-link").href = "/api/lite/runs.csv?" + LT.query(params(false));
    $("compiled-filter").textContent = compiledFilter() || "(none)";
  }

  function showFilterError(body) {
    const box = $("filter-error");
    box.querySelector(".msg").textContent = body.message;
    const where = box.querySelector(".where");
    if (typeof body.position === "number" && body.filter) {
      where.textContent = body.filter + "\n" + " ".repeat(body.position) + "^";
      where.hidden = false;
    } else {
      where.hidden = true;
    }
    box.hidden = false;
  }

  async function load(quiet) {
    clearTimeout(state.timer);
    const seq = ++state.loading;
    syncUrl();
    if (!quiet) $("status-line").textContent = "loading…";
    let resp;
    try {
      resp = await LT.get("/api/lite/runs?" + LT.query(params(true)));
    } catch (e) {
      if (seq !== state.loading) return;
      $("status-line").textContent = "";
      if (e.body && e.body.error_code) showFilterError(e.body); else LT.flash(e.message);
      state.rows = [];
      render();
      return;
    }
    if (seq !== state.loading) return;
    $("filter-error").hidden = true;
    state.rows = resp.runs;
    state.nextToken = resp.next_page_token;
    render();
    const running = state.rows.filter((r) => r.status === "RUNNING").length;
    $("status-line").textContent = `${state.rows.length} runs on this page` + (running ? `, ${running} running (live)` : "");
    if (running) state.timer = setTimeout(() => load(true), REFRESH_MS);
  }

  function sortHeader(label, key) {
    const [curKey, curDir] = state.order ? splitOrder(state.order) : ["", ""];
    const arrow = curKey === key ? (curDir === "ASC" ? " ▲" : " ▼") : "";
    return el("th", {
      class: "sortable", title: "sort by " + key, dataset: { key },
      onclick: () => {
        const dir = curKey === key && curDir === "DESC" ? "ASC" : "DESC";
        state.order = `${key} ${dir}`;
        resetPaging();
        load();
      },
    }, label + arrow);
  }

  function splitOrder(order) {
    const i = order.lastIndexOf(" ");
    return [order.slice(0, i), order.slice(i + 1)];
  }

  function orderRows(rows) {
    if (!$("group-nested").checked) return rows.map((r) => [r, 0]);
    const byId = new Map(rows.map((r) => [r.run_id, r]));
    const kids = new Map();
    const top = [];
    for (const r of rows) {
      if (r.parent_run_id && byId.has(r.parent_run_id) && r.parent_run_id !== r.run_id) {
        if (!kids.has(r.parent_run_id)) kids.set(r.parent_run_id, []);
        kids.get(r.parent_run_id).push(r);
      } else top.push(r);
    }
    const out = [];
    const seen = new Set();
    const walk = (r, depth) => {
      if (seen.has(r.run_id)) return;
      seen.add(r.run_id);
      out.push([r, depth, (kids.get(r.run_id) || []).length]);
      if (!state.collapsed.has(r.run_id)) (kids.get(r.run_id) || []).forEach((k) => walk(k, depth + 1));
    };
    top.forEach((r) => walk(r, 0));
    return out;
  }

  function render() {
    const table = $("runs-table");
    const head = el("tr", {},
      el("th", {}, el("input", { type: "checkbox", id: "select-all", "aria-label": "select all", onchange: (ev) => {
        state.rows.forEach((r) => ev.target.checked ? state.selected.add(r.run_id) : state.selected.delete(r.run_id));
        render();
      } })),
      sortHeader("Run", "attributes.run_name"), sortHeader("Status", "attributes.status"),
      sortHeader("Started", "attributes.start_time"), el("th", {}, "Duration"),
      several ? el("th", {}, "Experiment") : null,
      state.cols.metrics.map((k) => sortHeader(k, `metrics.${quoteKey(k)}`)),
      state.cols.params.map((k) => sortHeader(k, `params.${quoteKey(k)}`)),
      state.cols.tags.map((k) => sortHeader(k, `tags.${quoteKey(k)}`)));
    const first = several ? 6 : 5;
    head.querySelectorAll("th").forEach((th, i) => {
      if (i >= first && i < first + state.cols.metrics.length) th.classList.add("metric-col");
    });
    table.tHead.replaceChildren(head);
    const body = [];
    for (const [r, depth, nKids] of orderRows(state.rows)) {
      const nameCell = el("td", { class: "name", style: depth ? `padding-left:${0.4 + depth * 1.4}em` : null });
      if (nKids) {
        const open = !state.collapsed.has(r.run_id);
        nameCell.append(el("button", { type: "button", class: "toggle", title: open ? "collapse" : "expand",
          onclick: () => { open ? state.collapsed.add(r.run_id) : state.collapsed.delete(r.run_id); render(); } },
        open ? "▾" : "▸"));
      }
      if (depth) nameCell.append(el("span", { class: "child-mark" }, "↳ "));
      nameCell.append(el("a", { href: `/runs/${encodeURIComponent(r.run_id)}`, class: "run-link" }, r.run_name || r.run_id));
      if (nKids) nameCell.append(el("span", { class: "hint" }, ` (${nKids})`));
      const end = r.end_time ?? (r.status === "RUNNING" ? Date.now() : null);
      body.push(el("tr", { dataset: { runId: r.run_id }, class: (depth ? "child " : "") + (r.lifecycle_stage === "deleted" ? "deleted" : "") },
        el("td", {}, el("input", { type: "checkbox", class: "run-select", value: r.run_id, "aria-label": "select run",
          checked: state.selected.has(r.run_id),
          onchange: (ev) => { ev.target.checked ? state.selected.add(r.run_id) : state.selected.delete(r.run_id); updateButtons(); } })),
        nameCell,
        el("td", {}, el("span", { class: "status " + r.status.toLowerCase() }, r.status)),
        el("td", {}, LT.fmtTime(r.start_time)),
        el("td", {}, end === null ? "" : LT.fmtDuration(end - r.start_time)),
        several ? el("td", {}, expNames[r.experiment_id] || r.experiment_id) : null,
        state.cols.metrics.map((k) => el("td", { class: "num" }, LT.fmtNum(r.metrics[k]))),
        state.cols.params.map((k) => el("td", {}, r.params[k] ?? "")),
        state.cols.tags.map((k) => el("td", {}, r.tags[k] ?? ""))));
    }
    if (!body.length) {
      const span = (several ? 6 : 5) + state.cols.metrics.length + state.cols.params.length + state.cols.tags.length;
      body.push(el("tr", {}, el("td", { colspan: span, class: "empty" }, "No runs match.")));
    }
    table.tBodies[0].replaceChildren(...body);
    $("prev-page").disabled = state.page === 0;
    $("next-page").disabled = !state.nextToken;
    $("page-no").textContent = `page ${state.page + 1}`;
    updateButtons();
  }

  function updateButtons() {
    const n = state.selected.size;
    $("compare-btn").disabled = n < 1;
    $("compare-btn").textContent = n ? `Compare selected (${n})` : "Compare selected";
    for (const id of ["delete-btn", "restore-btn"]) if ($(id)) $(id).disabled = n < 1;
  }

  function resetPaging() {
    state.tokens = [null];
    state.page = 0;
  }

  function checkboxList(kind, keys) {
    return el("fieldset", {}, el("legend", {}, kind),
      keys.length ? keys.map((k) => el("label", {}, el("input", {
        type: "checkbox", class: `col-${kind}`, value: k, checked: state.cols[kind].includes(k),
        onchange: (ev) => {
          if (ev.target.checked) state.cols[kind].push(k); else state.cols[kind] = state.cols[kind].filter((x) => x !== k);
          load();
        },
      }), " " + k)) : el("span", { class: "hint" }, "none"));
  }

  function rangeInputs(metrics) {
    const box = $("ranges");
    box.replaceChildren(...metrics.map((m) => {
      const set = (which) => (ev) => {
        const r = state.ranges[m.key] || (state.ranges[m.key] = { min: "", max: "" });
        r[which] = ev.target.value.trim();
        if (r.min === "" && r.max === "") delete state.ranges[m.key];
        syncUrl();
      };
      return el("div", { class: "range", dataset: { key: m.key } },
        el("span", { class: "mono" }, m.key),
        el("input", { type: "number", step: "any", class: "range-min", placeholder: `min ${LT.fmtNum(m.min)}`, onchange: set("min") }),
        el("input", { type: "number", step: "any", class: "range-max", placeholder: `max ${LT.fmtNum(m.max)}`, onchange: set("max") }));
    }));
    box.append(el("button", { type: "button", id: "apply-ranges", onclick: () => { resetPaging(); load(); } }, "Apply ranges"));
  }

  async function init() {
    $("filter").value = state.filter;
    $("view").value = state.view;
    const cols = await LT.attempt(() => LT.get("/api/lite/columns?" + LT.query({ experiment_ids: data.experiment_ids.join(",") })));
    if (cols) {
      state.known = { metrics: cols.metrics.map((m) => m.key), params: cols.params, tags: cols.tags };
      state.cols.metrics = state.known.metrics.slice(0, DEFAULT_COLUMNS);
      state.cols.params = state.known.params.slice(0, DEFAULT_COLUMNS);
      $("columns").replaceChildren(checkboxList("metrics", state.known.metrics), checkboxList("params", state.known.params),
        checkboxList("tags", state.known.tags.filter((t) => !t.startsWith("mlflow.")).concat(state.known.tags.filter((t) => t.startsWith("mlflow.")))));
      rangeInputs(cols.metrics);
    }
    $("filter-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.filter = $("filter").value;
      resetPaging();
      load();
    });
    $("clear-filter").addEventListener("click", () => {
      $("filter").value = "";
      state.filter = "";
      state.ranges = {};
      document.querySelectorAll("#ranges input").forEach((i) => { i.value = ""; });
      resetPaging();
      load();
    });
    $("view").addEventListener("change", () => { state.view = $("view").value; state.selected.clear(); resetPaging(); load(); });
    $("group-nested").addEventListener("change", render);
    $("next-page").addEventListener("click", () => {
      if (!state.nextToken) return;
      state.tokens[state.page + 1] = state.nextToken;
      state.page += 1;
      load();
    });
    $("prev-page").addEventListener("click", () => { if (state.page) { state.page -= 1; load(); } });
    $("compare-btn").addEventListener("click", () => {
      location.href = "/compare?" + LT.query({ run_ids: [...state.selected].join(",") });
    });
    const bulk = (id, action, question) => {
      if (!$(id)) return;
      $(id).addEventListener("click", () => LT.attempt(async () => {
        const ids = [...state.selected];
        if (!confirm(`${question} ${ids.length} run(s)?`)) return;
        await LT.post(`/api/lite/runs/${action}`, { run_ids: ids });
        state.selected.clear();
        load();
      }));
    };
    bulk("delete-btn", "delete", "Delete");
    bulk("restore-btn", "restore", "Restore");
    load();
  }

  init();
})();
