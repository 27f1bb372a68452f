// VolSeg's report and case viewer: one page, no server, no network. The page's data is
// window.VOLSEG_REPORT (the case table, written by VolSeg); each case's volumes come from
// VOLSEG_REPORT.inline[id] or from a script file in report_files/ (a <script> tag loads from disk
// where fetch() may not), as zlib-compressed, base64-encoded byte arrays the page inflates with
// the browser's DecompressionStream.
"use strict";

(function () {
  const report = window.VOLSEG_REPORT;
  const palette = [[230, 25, 75], [60, 180, 75], [0, 130, 200], [255, 225, 25], [245, 130, 48], [145, 30, 180],
    [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [170, 110, 40]];
  const planes = ["axial", "coronal", "sagittal"];
  const pending = {};
  window.volsegTiming = { start: performance.now() };

  function colour(value) { return palette[(value - 1) % palette.length]; }
  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (key === "text") node.textContent = value; else node.setAttribute(key, value);
    }
    for (const child of children || []) node.appendChild(child);
    return node;
  }
  function formatted(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "undefined";
    if (Number.isInteger(value) && digits === 0) return String(value);
    return value.toFixed(digits === undefined ? 4 : digits);
  }

  // ---- the case table -------------------------------------------------------------------

  const metrics = [["dice", "Dice"], ["iou", "IoU"], ["hd95", "HD95 (mm)"], ["assd", "ASSD (mm)"], ["nsd", "NSD"],
    ["n_ref", "ref voxels"], ["n_pred", "pred voxels"]];
  const table = { label: 0, key: "dice", ascending: true };

  function buildSummary() {
    const box = document.getElementById("summary");
    box.appendChild(el("p", { text: report.conventions }));
    const head = el("tr", {}, [el("th", { text: "label" })].concat(metrics.slice(0, 5).map(m => el("th", { text: "mean " + m[1] })),
      [el("th", { text: "global Dice" })]));
    const rows = report.labels.map((label, index) => el("tr", {}, [el("td", { text: label.name })].concat(
      metrics.slice(0, 5).map(m => el("td", { text: formatted(report.means[index][m[0]]) })),
      [el("td", { text: formatted(report.globalDice[index]) })])));
    box.appendChild(el("table", { class: "means" }, [el("thead", {}, [head]), el("tbody", {}, rows)]));
    if (report.omitted > 0) {
      box.appendChild(el("p", { text: report.omitted + " better case(s) are in the table but not in the viewer (--report-max-cases)." }));
    }
  }

  function sortValue(item, key) {
    if (key === "case") return item.id;
    const value = item.scores[table.label][key];
    return value === null || value === undefined || Number.isNaN(value) ? null : value;
  }

  function buildTable() {
    const select = document.getElementById("label-filter");
    report.labels.forEach((label, index) => select.appendChild(el("option", { value: String(index), text: label.name })));
    select.addEventListener("change", () => { table.label = Number(select.value); renderTable(); });
    renderTable();
  }

  function renderTable() {
    const holder = document.getElementById("cases");
    holder.textContent = "";
    const columns = [["case", "case"]].concat(metrics);
    const header = el("tr", {}, columns.map(([key, title]) => {
      const th = el("th", { "data-key": key, text: title + (table.key === key ? (table.ascending ? " \u25B2" : " \u25BC") : "") });
      th.addEventListener("click", () => {
        table.ascending = table.key === key ? !table.ascending : true;
        table.key = key;
        renderTable();
      });
      return th;
    }));
    const items = report.cases.slice().sort((a, b) => {
      const x = sortValue(a, table.key), y = sortValue(b, table.key);
      if (x === null && y === null) return 0;
      if (x === null) return 1;   // undefined values sort last either way
      if (y === null) return -1;
      const order = typeof x === "string" ? x.localeCompare(y) : x - y;
      return table.ascending ? order : -order;
    });
    const rows = items.map(item => {
      const cells = [el("td", {}, [item.viewer ? el("a", { href: "#", "data-case": item.id, text: item.id }) : el("span", { text: item.id })])]
        .concat(metrics.map(([key]) => {
          const value = item.scores[table.label][key];
          return el("td", { class: value === null ? "undefined" : "", text: formatted(value, key.startsWith("n_") ? 0 : 4) });
        }));
      return el("tr", { "data-case": item.id }, cells);
    });
    holder.appendChild(el("table", { id: "case-table" }, [el("thead", {}, [header]), el("tbody", {}, rows)]));
    openCasesFromLinks(holder);
  }

  // Links with data-case (the table's, a training report's section) open that case in the viewer.
  function openCasesFromLinks(root) {
    root.querySelectorAll("a[data-case]").forEach(a => a.addEventListener("click", event => {
      event.preventDefault();
      openCase(a.getAttribute("data-case"));
    }));
  }

  // ---- case data ------------------------------------------------------------------------

  async function inflate(base64) {
    const bytes = Uint8Array.from(atob(base64), c => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  window.volsegRegisterCase = function (payload) {
    const waiting = pending[payload.id];
    if (waiting) { delete pending[payload.id]; waiting(payload); }
  };

  function loadPayload(item) {
    if (report.inline && report.inline[item.id]) return Promise.resolve(report.inline[item.id]);
    return new Promise((resolve, reject) => {
      pending[item.id] = resolve;
      const script = el("script", { src: item.viewer });
      script.onerror = () => reject(new Error("cannot load " + item.viewer));
      document.head.appendChild(script);
    });
  }

  async function decode(payload) {
    const volume = { id: payload.id, shape: payload.shape, spacing: payload.spacing, affine: payload.affine, ct: payload.ct,
      channels: [], layers: [] };
    for (const channel of payload.channels) {
      volume.channels.push({ name: channel.name, low: channel.low, high: channel.high, data: await inflate(channel.data) });
    }
    for (const layer of payload.layers) {
      const bytes = await inflate(layer.data);
      volume.layers.push({ name: layer.name, data: layer.wide ? new Uint16Array(bytes.buffer) : bytes });
    }
    return volume;
  }

  // ---- the viewer -----------------------------------------------------------------------

  const view = { volume: null, slice: [0, 0, 0], active: 0, channel: 0, window: null, opacity: 0.5,
    modes: { reference: "outline", prediction: "filled" }, hidden: new Set() };

  async function openCase(id) {
    const item = report.cases.find(c => c.id === id);
    const viewer = document.getElementById("viewer");
    viewer.hidden = false;
    document.body.removeAttribute("data-case-ready");
    document.getElementById("viewer-title").textContent = "case " + id + " (loading)";
    const volume = await decode(await loadPayload(item));
    view.volume = volume;
    view.slice = [Math.floor(volume.shape[2] / 2), Math.floor(volume.shape[1] / 2), Math.floor(volume.shape[0] / 2)];
    view.channel = 0;
    document.getElementById("viewer-title").textContent = "case " + id;
    buildControls();
    buildPlanes();
    render();
    document.body.setAttribute("data-case-ready", id);
    window.volsegTiming.caseReady = performance.now();
  }

  function labelValues() {
    const values = new Set();
    for (const layer of view.volume.layers) for (const v of layer.data) if (v !== 0) values.add(v);
    return Array.from(values).sort((a, b) => a - b);
  }

  function percentile(channel, share) {
    const counts = new Uint32Array(256);
    let total = 0;
    for (const q of channel.data) if (q > 0) { counts[q]++; total++; }
    let seen = 0;
    for (let q = 0; q < 256; q++) {
      seen += counts[q];
      if (total > 0 && seen >= share * total) return channel.low + q * (channel.high - channel.low) / 255;
    }
    return channel.high;
  }

  function windows() {
    const channel = view.volume.channels[view.channel];
    if (!channel) return [];
    if (view.volume.ct) {
      return [["abdomen (W400 L40)", -160, 240], ["lung (W1500 L-600)", -1350, 150], ["bone (W1800 L400)", -500, 1300]];
    }
    return [["1-99 percentile", percentile(channel, 0.01), percentile(channel, 0.99)],
      ["0.5-99.5 percentile", percentile(channel, 0.005), percentile(channel, 0.995)],
      ["full range", channel.low, channel.high]];
  }

  function buildControls() {
    const box = document.getElementById("controls");
    box.textContent = "";
    const volume = view.volume;
    if (volume.channels.length > 1) {
      const select = el("select", { id: "channel" }, volume.channels.map((c, i) => el("option", { value: String(i), text: c.name })));
      select.addEventListener("change", () => { view.channel = Number(select.value); setWindow(0); buildControls(); render(); });
      select.value = String(view.channel);
      box.appendChild(el("label", { text: "modality " }, [select]));
    }
    const presets = windows();
    if (presets.length > 0) {
      const select = el("select", { id: "window" }, presets.map((w, i) => el("option", { value: String(i), text: w[0] })));
      select.addEventListener("change", () => { setWindow(Number(select.value)); render(); });
      box.appendChild(el("label", { text: " window " }, [select]));
      if (!view.window) setWindow(0);
    }
    for (const source of ["reference", "prediction"]) {
      if (!volume.layers.some(l => l.name === source)) continue;
      const select = el("select", { id: "mode-" + source }, ["outline", "filled", "hidden"].map(m => el("option", { value: m, text: m })));
      select.value = view.modes[source];
      select.addEventListener("change", () => { view.modes[source] = select.value; render(); });
      box.appendChild(el("label", { text: " " + source + " " }, [select]));
    }
    const opacity = el("input", { id: "opacity", type: "range", min: "0", max: "1", step: "0.05", value: String(view.opacity) });
    opacity.addEventListener("input", () => { view.opacity = Number(opacity.value); render(); });
    box.appendChild(el("label", { text: " fill opacity " }, [opacity]));
    const error = el("button", { id: "largest-error", text: "largest error slice" });
    error.addEventListener("click", goToLargestError);
    box.appendChild(error);
    const legend = el("div", { id: "legend" });
    for (const value of labelValues()) {
      const box2 = el("input", { type: "checkbox", "data-label": String(value) });
      box2.checked = !view.hidden.has(value);
      box2.addEventListener("change", () => { if (box2.checked) view.hidden.delete(value); else view.hidden.add(value); render(); });
      const [r, g, b] = colour(value);
      const name = (report.labelNames && report.labelNames[value]) || ("label " + value);
      legend.appendChild(el("label", {}, [box2, el("span", { class: "swatch", style: `background: rgb(${r},${g},${b})` }), el("span", { text: " " + name + " (" + value + ")" })]));
    }
    box.appendChild(legend);
  }

  function setWindow(index) {
    const preset = windows()[index];
    view.window = preset ? [preset[1], preset[2]] : null;
  }

  // Screen (column, row) of plane p to voxel (x, y, z): radiological display, patient's right on
  // the viewer's left, anterior and superior up.
  function planeSize(p) {
    const [nx, ny, nz] = view.volume.shape;
    return p === 0 ? [nx, ny] : p === 1 ? [nx, nz] : [ny, nz];
  }
  function voxelAt(p, column, row) {
    const [nx, ny, nz] = view.volume.shape, s = view.slice[p];
    if (p === 0) return [nx - 1 - column, ny - 1 - row, s];
    if (p === 1) return [nx - 1 - column, s, nz - 1 - row];
    return [s, ny - 1 - column, nz - 1 - row];
  }
  function screenOf(p, voxel) {
    const [nx, ny, nz] = view.volume.shape, [x, y, z] = voxel;
    if (p === 0) return [nx - 1 - x, ny - 1 - y];
    if (p === 1) return [nx - 1 - x, nz - 1 - z];
    return [ny - 1 - y, nz - 1 - z];
  }
  function sliceCount(p) { const s = view.volume.shape; return p === 0 ? s[2] : p === 1 ? s[1] : s[0]; }
  function index(voxel) { const [nx, ny] = view.volume.shape; return (voxel[2] * ny + voxel[1]) * nx + voxel[0]; }

  function buildPlanes() {
    const box = document.getElementById("planes");
    box.textContent = "";
    const volume = view.volume;
    const spacing = volume.spacing;
    const extent = Math.max(volume.shape[0] * spacing[0], volume.shape[1] * spacing[1], volume.shape[2] * spacing[2]);
    const zoom = 360 / extent;
    planes.forEach((name, p) => {
      const [w, h] = planeSize(p);
      const canvas = el("canvas", { id: "canvas-" + name, width: String(w), height: String(h), tabindex: "0" });
      const spacingColumn = p === 2 ? spacing[1] : spacing[0], spacingRow = p === 0 ? spacing[1] : spacing[2];
      canvas.style.width = (w * spacingColumn * zoom).toFixed(1) + "px";
      canvas.style.height = (h * spacingRow * zoom).toFixed(1) + "px";
      const slider = el("input", { id: "slider-" + name, type: "range", min: "0", max: String(sliceCount(p) - 1), value: String(view.slice[p]) });
      slider.addEventListener("input", () => { view.slice[p] = Number(slider.value); render(); });
      const readout = el("div", { id: "slice-" + name, class: "readout" });
      canvas.addEventListener("mousedown", () => { view.active = p; canvas.focus(); });
      canvas.addEventListener("focus", () => { view.active = p; });
      canvas.addEventListener("mousemove", event => showVoxel(p, canvas, event));
      box.appendChild(el("div", { class: "plane" }, [el("div", { text: name }), canvas, slider, readout]));
    });
  }

  function move(p, delta) {
    view.slice[p] = Math.max(0, Math.min(sliceCount(p) - 1, view.slice[p] + delta));
    render();
  }

  document.addEventListener("keydown", event => {
    if (!view.volume || document.getElementById("viewer").hidden) return;
    const steps = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10 };
    if (!(event.key in steps)) return;
    event.preventDefault();
    move(view.active, steps[event.key]);
  });

  function world(voxel) {
    const a = view.volume.affine;
    return [0, 1, 2].map(r => a[r][0] * voxel[0] + a[r][1] * voxel[1] + a[r][2] * voxel[2] + a[r][3]);
  }

  function layerValue(name, voxel) {
    const layer = view.volume.layers.find(l => l.name === name);
    return layer ? layer.data[index(voxel)] : null;
  }

  function showVoxel(p, canvas, event) {
    const rect = canvas.getBoundingClientRect();
    const [w, h] = planeSize(p);
    const column = Math.floor((event.clientX - rect.left) / rect.width * w), row = Math.floor((event.clientY - rect.top) / rect.height * h);
    if (column < 0 || row < 0 || column >= w || row >= h) return;
    const voxel = voxelAt(p, column, row), position = world(voxel);
    const parts = ["voxel " + voxel.join(", "), "world (RAS) " + position.map(v => v.toFixed(1)).join(", ") + " mm"];
    for (const name of ["reference", "prediction"]) {
      const value = layerValue(name, voxel);
      if (value !== null) parts.push(name + " " + value);
    }
    const channel = view.volume.channels[view.channel];
    if (channel) parts.push("image " + (channel.low + channel.data[index(voxel)] * (channel.high - channel.low) / 255).toFixed(1));
    document.getElementById("voxel").textContent = parts.join("; ");
  }

  function render() {
    const volume = view.volume;
    planes.forEach((name, p) => {
      const canvas = document.getElementById("canvas-" + name);
      const [w, h] = planeSize(p);
      const context = canvas.getContext("2d");
      const image = context.createImageData(w, h);
      const channel = volume.channels[view.channel];
      const [low, high] = view.window || [0, 1];
      const labels = {};
      for (const layer of volume.layers) labels[layer.name] = layer.data;
      const at = new Int32Array(w * h);
      for (let row = 0; row < h; row++) for (let column = 0; column < w; column++) at[row * w + column] = index(voxelAt(p, column, row));
      for (let i = 0; i < w * h; i++) {
        let grey = 0;
        if (channel) {
          const value = channel.low + channel.data[at[i]] * (channel.high - channel.low) / 255;
          grey = Math.max(0, Math.min(255, Math.round((value - low) / (high - low) * 255)));
        }
        let [r, g, b] = [grey, grey, grey];
        const filled = ["reference", "prediction"].filter(s => labels[s] && view.modes[s] === "filled");
        for (const source of filled) {
          const value = labels[source][at[i]];
          if (value !== 0 && !view.hidden.has(value)) {
            const c = colour(value), o = view.opacity;
            r = Math.round(r * (1 - o) + c[0] * o); g = Math.round(g * (1 - o) + c[1] * o); b = Math.round(b * (1 - o) + c[2] * o);
          }
        }
        for (const source of ["reference", "prediction"]) {
          if (!labels[source] || view.modes[source] !== "outline") continue;
          const value = labels[source][at[i]];
          if (value === 0 || view.hidden.has(value)) continue;
          const row = Math.floor(i / w), column = i % w;
          const edge = row === 0 || column === 0 || row === h - 1 || column === w - 1
            || labels[source][at[i - 1]] !== value || labels[source][at[i + 1]] !== value
            || labels[source][at[i - w]] !== value || labels[source][at[i + w]] !== value;
          if (edge) [r, g, b] = colour(value);
        }
        image.data[4 * i] = r; image.data[4 * i + 1] = g; image.data[4 * i + 2] = b; image.data[4 * i + 3] = 255;
      }
      context.putImageData(image, 0, 0);
      document.getElementById("slider-" + name).value = String(view.slice[p]);
      document.getElementById("slice-" + name).textContent = name + " " + (view.slice[p] + 1) + "/" + sliceCount(p);
    });
  }

  // The slice of each plane where reference and prediction disagree on the most voxels.
  function goToLargestError() {
    const volume = view.volume;
    const reference = volume.layers.find(l => l.name === "reference"), prediction = volume.layers.find(l => l.name === "prediction");
    if (!reference || !prediction) return;
    const [nx, ny, nz] = volume.shape;
    const counts = [new Uint32Array(nz), new Uint32Array(ny), new Uint32Array(nx)];
    for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
      const i = (z * ny + y) * nx + x;
      if (reference.data[i] !== prediction.data[i]) { counts[0][z]++; counts[1][y]++; counts[2][x]++; }
    }
    counts.forEach((c, p) => { let best = 0; for (let s = 1; s < c.length; s++) if (c[s] > c[best]) best = s; view.slice[p] = best; });
    render();
  }

  // For tests and links: show the voxel nearest a world (RAS) position in every plane, and
  // return where its centre is on the page in each plane (client pixels).
  window.volsegViewer = {
    goToWorld(x, y, z) {
      const a = view.volume.affine;
      const m = [0, 1, 2].map(r => [a[r][0], a[r][1], a[r][2]]), d = [x - a[0][3], y - a[1][3], z - a[2][3]];
      const det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
      const solve = column => {
        const n = m.map(r => r.slice());
        for (let r = 0; r < 3; r++) n[r][column] = d[r];
        return (n[0][0] * (n[1][1] * n[2][2] - n[1][2] * n[2][1]) - n[0][1] * (n[1][0] * n[2][2] - n[1][2] * n[2][0])
          + n[0][2] * (n[1][0] * n[2][1] - n[1][1] * n[2][0])) / det;
      };
      const voxel = [0, 1, 2].map(c => Math.max(0, Math.min(view.volume.shape[c] - 1, Math.round(solve(c)))));
      view.slice = [voxel[2], voxel[1], voxel[0]];
      render();
      return planes.map((name, p) => {
        const rect = document.getElementById("canvas-" + name).getBoundingClientRect();
        const [w, h] = planeSize(p), [column, row] = screenOf(p, voxel);
        return { plane: name, voxel: voxel, x: rect.left + (column + 0.5) * rect.width / w, y: rect.top + (row + 0.5) * rect.height / h };
      });
    },
    colour: colour,
  };

  function start() {
    document.title = report.title;
    document.getElementById("title").textContent = report.title;
    // Sections VolSeg wrote whole (a training run's charts and memory table).
    for (const section of report.sections || []) {
      const box = el("section", { class: "report-section" }, [el("h2", { text: section.title })]);
      const body = el("div");
      body.innerHTML = section.html;
      box.appendChild(body);
      document.getElementById("table-section").before(box);
      openCasesFromLinks(body);
    }
    if (report.cases.length > 1 || report.table) {
      buildSummary();
      buildTable();
    } else {
      document.getElementById("table-section").hidden = true;
    }
    document.body.setAttribute("data-ready", "1");
    window.volsegTiming.tableReady = performance.now();
    if (!report.table && !report.sections && report.cases.length === 1) openCase(report.cases[0].id);
  }

  start();
})();
