// gradlab-web's page: plain JavaScript, no build step. Every text from the server or the user
// goes into the page through textContent, never as HTML.
"use strict";

// An access token given as http://HOST:PORT/#token=… is kept for this tab only.
(function keepToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    let t = m[1];
    try { t = decodeURIComponent(t); } catch (_) { /* kept as written */ }
    sessionStorage.setItem("gradlab-token", t);
    history.replaceState(null, "", location.pathname);
  }
})();

function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const t = sessionStorage.getItem("gradlab-token");
  if (t) h["Authorization"] = "Bearer " + t;
  return h;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = authHeaders(opts.headers);
  const r = await fetch(path, opts);
  let body = null;
  try { body = await r.json(); } catch (_) { body = { error: "not JSON (" + r.status + ")" }; }
  if (!r.ok) throw new Error(body && body.error ? body.error : "HTTP " + r.status);
  return body;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function fillList(ul, items) {
  ul.replaceChildren(...items.map((t) => el("li", "", t)));
}

// ---------- status ----------
let status = null;
async function loadStatus() {
  const s = document.getElementById("server");
  try {
    status = await api("/api/status");
    s.textContent = "gradlab-web " + status.version + " — inference on " + status.backend;
    for (const [key, id] of [["mnist", "digit-missing"], ["sentiment", "sentiment-missing"]]) {
      const box = document.getElementById(id);
      if (!status[key].ready) {
        box.textContent = "No model loaded: " + status[key].problem;
        box.hidden = false;
      } else {
        box.hidden = true;
      }
    }
  } catch (e) {
    s.textContent = "server: " + e.message;
  }
}

// ---------- digits ----------
const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
let drawing = false;
let dirty = false;
let inFlight = false;
let hasInk = false;

function clearPad() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  hasInk = false;
  document.getElementById("digit-top").textContent = "–";
  document.getElementById("digit-confidence").textContent = "";
  drawBars(null);
  document.getElementById("maps").replaceChildren();
  document.getElementById("input").getContext("2d").clearRect(0, 0, 28, 28);
  fillList(document.getElementById("digit-notes"), []);
}

function point(ev) {
  const r = pad.getBoundingClientRect();
  return [(ev.clientX - r.left) * pad.width / r.width, (ev.clientY - r.top) * pad.height / r.height];
}

function setupPad() {
  ctx.lineWidth = 20;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = "#fff";
  clearPad();
  pad.addEventListener("pointerdown", (ev) => {
    drawing = true;
    pad.setPointerCapture(ev.pointerId);
    const [x, y] = point(ev);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 0.01, y);
    ctx.stroke();
    hasInk = true;
    schedule();
  });
  pad.addEventListener("pointermove", (ev) => {
    if (!drawing) return;
    const [x, y] = point(ev);
    ctx.lineTo(x, y);
    ctx.stroke();
    schedule();
  });
  const end = () => { if (drawing) { drawing = false; schedule(); } };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  document.getElementById("clear").addEventListener("click", clearPad);
}

// At most one request in flight; the newest drawing is sent when it returns.
function schedule() {
  dirty = true;
  if (!inFlight) send();
}

async function send() {
  if (!dirty || !hasInk) return;
  dirty = false;
  inFlight = true;
  try {
    const blob = await new Promise((ok) => pad.toBlob(ok, "image/png"));
    const r = await api("/api/digit", { method: "POST", headers: { "Content-Type": "image/png" }, body: blob });
    if (hasInk) showDigit(r);
  } catch (e) {
    fillList(document.getElementById("digit-notes"), ["error: " + e.message]);
  } finally {
    inFlight = false;
    if (dirty) send();
  }
}

function drawBars(probs) {
  const ol = document.getElementById("bars");
  const best = probs ? probs.indexOf(Math.max(...probs)) : -1;
  ol.replaceChildren(...Array.from({ length: 10 }, (_, d) => {
    const li = el("li", d === best ? "best" : "");
    li.append(el("span", "d", String(d)));
    const bar = el("span", "bar");
    const fill = el("span", "fill");
    fill.style.display = "block";
    fill.style.width = probs ? (100 * probs[d]).toFixed(1) + "%" : "0";
    bar.append(fill);
    li.append(bar, el("span", "p", probs ? (100 * probs[d]).toFixed(1) + " %" : ""));
    return li;
  }));
}

function greyImage(c, values, side) {
  const g = c.getContext("2d");
  const img = g.createImageData(side, side);
  for (let i = 0; i < side * side; i++) {
    const v = values[i];
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  g.putImageData(img, 0, 0);
}

function showDigit(r) {
  document.getElementById("digit-top").textContent = String(r.digit);
  document.getElementById("digit-confidence").textContent =
    "(" + (100 * r.probabilities[r.digit]).toFixed(1) + " %)";
  drawBars(r.probabilities);
  greyImage(document.getElementById("input"), r.input, 28);
  fillList(document.getElementById("digit-notes"), r.warnings.map((w) => "warning: " + w).concat(r.notes));
  const fm = r.feature_maps;
  const bytes = Uint8Array.from(atob(fm.data), (ch) => ch.charCodeAt(0));
  const per = fm.side * fm.side;
  const maps = document.getElementById("maps");
  const canvases = Array.from({ length: fm.count }, (_, k) => {
    const c = el("canvas");
    c.width = c.height = fm.side;
    c.title = "map " + k + " (strongest response " + fm.max[k].toFixed(3) + ")";
    greyImage(c, bytes.subarray(k * per, (k + 1) * per), fm.side);
    return c;
  });
  maps.replaceChildren(...canvases);
}

// ---------- sentiment ----------
let textTimer = null;
let textSeq = 0;

function setupText() {
  const box = document.getElementById("text");
  box.addEventListener("input", () => {
    clearTimeout(textTimer);
    textTimer = setTimeout(predictText, 250);
  });
}

async function predictText() {
  const text = document.getElementById("text").value;
  const err = document.getElementById("sentiment-error");
  const seq = ++textSeq;
  if (!text.trim()) {
    showSentiment(null);
    err.hidden = true;
    return;
  }
  try {
    const r = await api("/api/sentiment", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ texts: [text] }),
    });
    if (seq !== textSeq) return; // a newer text is on its way
    err.hidden = true;
    document.getElementById("sentiment-model").textContent = "(" + r.model + " model)";
    showSentiment(r.results[0]);
  } catch (e) {
    if (seq !== textSeq) return;
    showSentiment(null);
    err.textContent = e.message;
    err.hidden = false;
  }
}

function showSentiment(res) {
  document.getElementById("sentiment-label").textContent = res ? res.label : "–";
  document.getElementById("sentiment-prob").textContent =
    res ? "(probability positive " + (100 * res.probability).toFixed(1) + " %)" : "";
  const tokens = document.getElementById("tokens");
  if (!res) {
    tokens.replaceChildren();
    fillList(document.getElementById("sentiment-warnings"), []);
    return;
  }
  const top = Math.max(1e-6, ...res.items.map((i) => Math.abs(i.contribution || 0)));
  tokens.replaceChildren(...res.items.map((item) => {
    const t = el("span", "tok " + item.fate, item.text);
    if (item.contribution !== undefined) {
      const a = Math.min(1, Math.abs(item.contribution) / top);
      t.style.background = item.contribution >= 0
        ? "rgba(26,159,91," + (0.12 + 0.55 * a).toFixed(2) + ")"
        : "rgba(212,59,47," + (0.12 + 0.55 * a).toFixed(2) + ")";
      t.append(el("sub", "", (item.contribution >= 0 ? "+" : "") + item.contribution.toFixed(2)));
      t.title = "contribution to the logit: " + item.contribution.toFixed(4);
    } else {
      t.title = item.fate;
    }
    return t;
  }));
  fillList(document.getElementById("sentiment-warnings"), res.warnings.map((w) => "warning: " + w));
}

// ---------- runs ----------
async function plotImage(url) {
  const img = el("img");
  img.alt = url;
  try {
    const r = await fetch(url, { headers: authHeaders() });
    if (!r.ok) throw new Error("HTTP " + r.status);
    img.src = URL.createObjectURL(await r.blob());
  } catch (e) {
    img.alt = url + ": " + e.message;
  }
  return img;
}

async function loadRuns() {
  const list = document.getElementById("run-list");
  try {
    const r = await api("/api/runs");
    document.getElementById("runs-dir").textContent = "from " + r.runs_dir;
    const blocks = [];
    for (const c of r.crates) {
      const box = el("div", "crate");
      box.append(el("h3", "", c.crate + " — " + (c.runs.length ? c.runs.length + " run(s)" : "no runs yet")));
      for (const run of c.runs.slice(0, 5)) {
        const row = el("div", "run");
        const head = el("div", "head");
        head.append(el("strong", "", run.run));
        head.append(el("span", "", run.finished ? (run.headline || "finished") : "unfinished"));
        if (run.command) head.append(el("span", "small", run.command));
        if (run.backend) head.append(el("span", "small", run.backend));
        if (run.modified) head.append(el("span", "small", run.modified));
        if (run.toy) head.append(el("span", "small", "toy: " + run.toy));
        row.append(head);
        if (run.plots.length) {
          const plots = el("div", "plots");
          for (const p of run.plots) plots.append(await plotImage(p));
          row.append(plots);
        }
        box.append(row);
      }
      if (c.runs.length > 5 || c.more) box.append(el("p", "small", "older runs: see /api/runs"));
      blocks.push(box);
    }
    list.replaceChildren(...blocks);
  } catch (e) {
    list.replaceChildren(el("p", "error", "runs: " + e.message));
  }
}

setupPad();
setupText();
loadStatus();
loadRuns();
