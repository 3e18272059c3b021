// Shared helpers of every page. Data is inserted into the DOM with textContent / attributes only,
// never as HTML, so names such as <img src=x onerror=...> show as text.
"use strict";

const LT = (() => {
  const node = document.getElementById("page-data");
  const data = node ? JSON.parse(node.textContent) : {};
  const readOnly = document.body.dataset.readOnly === "true";

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = String(v);
      else if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  class ApiError extends Error {
    constructor(body, status) {
      super(body.message || `HTTP ${status}`);
      this.body = body;
      this.status = status;
    }
  }

  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", headers: {} };
    if (method !== "GET") {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    const resp = await fetch(url, init);
    let obj;
    try {
      obj = await resp.json();
    } catch (e) {
      obj = { message: `HTTP ${resp.status}` };
    }
    if (!resp.ok) throw new ApiError(obj, resp.status);
    return obj;
  }

  const get = (url) => api("GET", url);
  const post = (url, body) => api("POST", url, body);

  function flash(message, kind) {
    const box = document.getElementById("flash");
    box.textContent = message;
    box.className = "flash " + (kind || "error");
    box.hidden = false;
  }

  // Run an action; show its error in the flash box instead of failing silently.
  async function attempt(fn) {
    try {
      return await fn();
    } catch (e) {
      flash(e.message);
      return undefined;
    }
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  function fmtTime(ms) {
    if (ms === null || ms === undefined) return "";
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return "";
    const s = ms / 1000;
    if (s < 60) return s.toFixed(1) + "s";
    const m = Math.floor(s / 60), h = Math.floor(m / 60);
    return h ? `${h}h ${m % 60}m` : `${m}m ${Math.floor(s % 60)}s`;
  }

  function fmtNum(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "string") return v;
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(4) : String(Number(v.toPrecision(6)));
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null || v === "") continue;
      if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
      else q.set(k, v);
    }
    return q.toString();
  }

  return { data, readOnly, el, api, get, post, flash, attempt, fmtTime, fmtDuration, fmtNum, query, ApiError };
})();
