/* wattwatch HTML report: reads the JSON embedded in the page and configures Chart.js charts.
   All user text (run ids, project names, phases) goes through textContent, never innerHTML. */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("wattwatch-data").textContent);
  var C = D.cols, R = D.runs, S = D.strings;
  var col = {};
  C.forEach(function (name, i) { col[name] = i; });
  function v(row, name) { return row[col[name]]; }
  function str(row, name) { var i = v(row, name); return i === null ? "" : S[i]; }
  var PALETTE = ["#2f6fdf", "#e8743b", "#19a979", "#945ecf", "#ed4a7b", "#13a4b4", "#525df4", "#bf399e", "#6c8893", "#ee6868"];
  var PHASE_COLORS = { train: "rgba(47,111,223,0.08)", eval: "rgba(25,169,121,0.14)", checkpoint: "rgba(232,116,59,0.18)" };
  Chart.defaults.animation = false;
  Chart.defaults.font.size = 11.5;
  Chart.defaults.maintainAspectRatio = false;
  /* numeric axes: short labels (6.86e-5, 1,250, 0.25) instead of Chart.js's fixed-point for tiny values */
  Chart.defaults.scales.linear.ticks.callback = function (value) { return fmt(Number(value), 3); };
  var charts = {};

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function fmt(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) return "";
    var a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(2);
    return Number(x.toPrecision(digits || 4)).toLocaleString("en-US", { maximumFractionDigits: 6 });
  }
  /* a figure in the unit that reads at a glance (as wattwatch report prints it): 2.42 kWh, 350 Wh, 33.7 J */
  function scaled(x, units) {
    if (x === null || x === undefined || !isFinite(x)) return "";
    for (var k = 0; k < units.length; k++) {
      if ((x !== 0 && Math.abs(x) >= units[k][0]) || k === units.length - 1) {
        return Number((x * units[k][2]).toPrecision(3)).toLocaleString("en-US", { maximumFractionDigits: 12 }) + " " + units[k][1];
      }
    }
    return "";
  }
  function energyText(kwh) { return scaled(kwh, [[1000, "MWh", 1e-3], [1, "kWh", 1], [1e-3, "Wh", 1e3], [0, "J", 3.6e6]]); }
  function massText(kg) { return scaled(kg, [[1000, "t", 1e-3], [1, "kg", 1], [1e-3, "g", 1e3], [0, "mg", 1e6]]); }
  function dateOf(unix) { return unix === null ? "" : new Date(unix * 1000).toISOString().slice(0, 16).replace("T", " "); }
  /* a time axis tick (ms since the epoch, UTC) in the detail the axis' span needs: dates over weeks, hours and
     minutes within a day or two, seconds within minutes -- never the same date on every tick */
  function timeTick(ms, spanMs) {
    var iso = new Date(ms).toISOString();
    if (spanMs > 3 * 86400e3) return iso.slice(0, 10);
    if (spanMs > 20 * 60e3) return iso.slice(5, 16).replace("T", " ");
    return iso.slice(11, 19);
  }
  function dur(s) {
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
    return h + ":" + String(m).padStart(2, "0") + ":" + String(sec).padStart(2, "0");
  }
  function chart(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return null;
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart(canvas, config);
    return charts[id];
  }
  function empty(id, text) {
    var box = document.getElementById(id).parentNode;
    box.textContent = "";
    box.appendChild(el("div", text, "empty"));
  }

  /* ---- header cards ---- */
  var T = D.totals;
  var cards = document.getElementById("cards");
  [["runs", fmt(T.runs, 6) + (D.runs_total > R.length ? " (" + fmt(R.length, 6) + " listed)" : "")], ["energy", energyText(T.energy_kwh)], ["operational CO2eq", massText(T.operational_kg)],
   ["embodied CO2eq", massText(T.embodied_kg)], ["total CO2eq", massText(T.total_kg)],
   ["GPU / CPU / RAM", [T.gpu_kwh, T.cpu_kwh, T.ram_kwh].map(energyText).join(" / ")]
  ].concat(T.overlap_kwh > 0 ? [["overlap counted once (two runs, one machine)", energyText(T.overlap_kwh)]] : []
  ).forEach(function (kv) {
    var c = el("div", null, "card");
    c.appendChild(el("div", kv[1], "v"));
    c.appendChild(el("div", kv[0], "k"));
    cards.appendChild(c);
  });
  var notes = document.getElementById("notes");
  D.notes.forEach(function (n) { notes.appendChild(el("li", n)); });

  /* ---- cumulative footprint over time (the rebound view) ---- */
  (function () {
    var op = [], tot = [];
    /* [start, operational kg, + embodied kg, kWh] summed by the report (overlap counted once: the last point is
       the totals), over every run, downsampled when the page lists only the most recent ones */
    D.cumulative.forEach(function (p) {
      op.push({ x: p[0] * 1000, y: p[1], kwh: p[3] }); tot.push({ x: p[0] * 1000, y: p[2], kwh: p[3] });
    });
    if (!op.length) { empty("cumulative", "No run has a start time."); return; }
    /* the footprint starts at zero before the first run; the axis spans the runs (an hour either side at least,
       so one run, or runs of one day, get an axis of their own instead of Chart.js's years around one point) */
    var first = op[0].x, last = op[op.length - 1].x, pad = Math.max((last - first) * 0.03, 3600e3);
    var step = [60e3, 300e3, 600e3, 1800e3, 3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3, 172800e3,
      604800e3, 1209600e3, 2592000e3, 7776000e3, 15724800e3, 31536000e3].filter(function (s) {
        return (last - first + 2 * pad) / s <= 8; })[0] || 31536000e3;
    var lo = Math.floor((first - pad) / step) * step, hi = Math.ceil((last + pad) / step) * step;
    var runs = op.length, marks = runs <= 30 ? 3 : 0;
    op.unshift({ x: first, y: 0 }); tot.unshift({ x: first, y: 0 });
    op.push({ x: hi, y: op[op.length - 1].y }); tot.push({ x: hi, y: tot[tot.length - 1].y });  /* holds to the end */
    var mark = function (ctx) { return ctx.dataIndex === 0 || ctx.dataIndex > runs ? 0 : marks; };
    chart("cumulative", {
      type: "line",
      data: { datasets: [
        { label: "operational kg CO2eq (cumulative)", data: op, borderColor: PALETTE[0], backgroundColor: "rgba(47,111,223,0.25)", fill: "origin", pointRadius: mark, borderWidth: 1.5, stepped: true },
        { label: "+ embodied kg CO2eq (cumulative)", data: tot, borderColor: PALETTE[1], backgroundColor: "rgba(232,116,59,0.25)", fill: "-1", pointRadius: mark, borderWidth: 1.5, stepped: true }
      ] },
      options: { parsing: false, normalized: true, interaction: { mode: "nearest", intersect: false },
        scales: { x: { type: "linear", min: lo, max: hi, title: { display: true, text: "run start (UTC)" },
                       ticks: { stepSize: step, callback: function (val) { return timeTick(val, this.max - this.min); }, maxTicksLimit: 10 } },
                  y: { title: { display: true, text: "kg CO2eq" }, beginAtZero: true, grace: "5%" } },
        plugins: { tooltip: { callbacks: { title: function (items) { return dateOf(items[0].parsed.x / 1000); },
          footer: function (items) { var k = items[0].raw.kwh; return k === undefined || k === null ? "" : energyText(k) + " (cumulative)"; } } } } }
    });
  })();

  /* ---- project CO2 by component (operational and embodied stacked) and energy, CO2 by phase ---- */
  (function () {
    var keys = ["gpu", "cpu", "ram", "server"], names = ["GPU", "CPU", "RAM", "server"];
    var kwh = [T.gpu_kwh, T.cpu_kwh, T.ram_kwh, null];
    chart("components", {
      type: "bar",
      data: { labels: names, datasets: [
        { label: "operational kg CO2eq", data: keys.map(function (k) { return D.components[k][0]; }), backgroundColor: PALETTE[0], stack: "co2" },
        { label: "embodied kg CO2eq", data: keys.map(function (k) { return D.components[k][1]; }), backgroundColor: PALETTE[1], stack: "co2" },
        { label: "kWh (PUE applied)", data: kwh, backgroundColor: "rgba(25,169,121,0.75)", stack: "kwh", yAxisID: "y1" }
      ] },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "kg CO2eq" } },
                           y1: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "kWh" } } } }
    });
  })();
  (function () {
    var names = Object.keys(D.phases);
    if (!names.length) { empty("phases", "No phase energies recorded."); return; }
    chart("phases", {
      type: "bar",
      data: { labels: names, datasets: [
        { label: "kWh", data: names.map(function (n) { return D.phases[n][0]; }), backgroundColor: PALETTE[0], yAxisID: "y" },
        { label: "kg CO2eq (operational)", data: names.map(function (n) { return D.phases[n][1]; }), backgroundColor: PALETTE[1], yAxisID: "y1" }
      ] },
      options: { scales: { y: { title: { display: true, text: "kWh" }, beginAtZero: true },
                           y1: { position: "right", title: { display: true, text: "kg CO2eq" }, beginAtZero: true, grid: { drawOnChartArea: false } } } }
    });
  })();

  /* ---- operational and embodied, stacked, for the latest runs (with the energy band where there is one) ---- */
  (function () {
    var idx = R.map(function (r, i) { return i; });
    idx.sort(function (a, b) { return (v(R[a], "start") || 0) - (v(R[b], "start") || 0); });
    idx = idx.slice(-D.stack_runs);
    if (!idx.length) { empty("stacked", "No runs."); return; }
    var labels = idx.map(function (i) { return str(R[i], "id").slice(0, 8); });
    var sets = [
      { label: "operational kg CO2eq", data: idx.map(function (i) { return v(R[i], "op"); }), backgroundColor: PALETTE[0], stack: "co2" },
      { label: "embodied kg CO2eq", data: idx.map(function (i) { return v(R[i], "emb"); }), backgroundColor: PALETTE[1], stack: "co2" }
    ];
    var banded = idx.some(function (i) { return v(R[i], "op_lo") !== null; });
    if (banded) {
      sets.push({ label: "operational range (energy low-high)", data: idx.map(function (i) {
        var lo = v(R[i], "op_lo"), hi = v(R[i], "op_hi");
        return lo === null ? null : [lo, hi];
      }), backgroundColor: "rgba(30,30,30,0.35)", stack: "band", barPercentage: 0.25 });
    }
    chart("stacked", { type: "bar", data: { labels: labels, datasets: sets },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "kg CO2eq" } } } } });
  })();

  /* ---- quality against carbon, Pareto front marked ---- */
  (function () {
    var names = Object.keys(D.metrics);
    var sel = document.getElementById("metric");
    if (!names.length) { empty("quality", "No run recorded evaluation metrics (the Trainer callback records them)."); sel.style.display = "none"; return; }
    names.forEach(function (n) { var o = el("option", n); o.value = n; sel.appendChild(o); });
    function draw() {
      var m = D.metrics[sel.value];
      chart("quality", {
        type: "scatter",
        data: { datasets: [
          { label: "Pareto front (" + (m.lower ? "lower" : "higher") + " is better)", data: m.front.map(function (p) { return { x: p[0], y: p[1] }; }), showLine: true, borderColor: PALETTE[4], backgroundColor: PALETTE[4], pointRadius: 5, pointStyle: "rectRot", order: 0 },
          { label: "runs", data: m.points.map(function (p) { return { x: p[0], y: p[1], i: p[2] }; }), backgroundColor: "rgba(47,111,223,0.55)", pointRadius: 3, order: 1 }
        ] },
        options: { parsing: { xAxisKey: "x", yAxisKey: "y" },
          scales: { x: { title: { display: true, text: "kg CO2eq (operational + embodied)" } }, y: { title: { display: true, text: sel.value } } },
          plugins: { tooltip: { callbacks: { label: function (ctx) {
            var p = ctx.raw, id = p.i !== undefined ? str(R[p.i], "id").slice(0, 8) + ": " : "";
            return id + fmt(p.x) + " kg, " + sel.value + " " + fmt(p.y);
          } } } } }
      });
    }
    sel.addEventListener("change", draw);
    draw();
  })();

  /* ---- J per token ranking ---- */
  (function () {
    var idx = R.map(function (r, i) { return i; }).filter(function (i) { return v(R[i], "j_token") !== null; });
    if (!idx.length) { empty("jtoken", "No run recorded a token count."); return; }
    idx.sort(function (a, b) { return v(R[a], "j_token") - v(R[b], "j_token"); });
    idx = idx.slice(0, 30);
    chart("jtoken", { type: "bar",
      data: { labels: idx.map(function (i) { return str(R[i], "id").slice(0, 8); }),
              datasets: [{ label: "J per token (lowest first)", data: idx.map(function (i) { return v(R[i], "j_token"); }), backgroundColor: PALETTE[2] }] },
      options: { indexAxis: "y", scales: { x: { title: { display: true, text: "J/token" }, beginAtZero: true } } } });
  })();

  /* ---- one run: power over time with phase bands, its phases and components, its intensity ---- */
  var phaseBands = {
    id: "phaseBands",
    beforeDatasetsDraw: function (ch, args, opts) {
      var spans = opts.spans || [], x = ch.scales.x, area = ch.chartArea, ctx = ch.ctx;
      ctx.save();
      spans.forEach(function (s) {
        var x0 = Math.max(x.getPixelForValue(s[1]), area.left), x1 = Math.min(x.getPixelForValue(s[2]), area.right);
        if (x1 <= x0) return;
        ctx.fillStyle = PHASE_COLORS[s[0]] || "rgba(120,120,120,0.12)";
        ctx.fillRect(x0, area.top, x1 - x0, area.bottom - area.top);
        if (x1 - x0 > 40) { ctx.fillStyle = "#5b6475"; ctx.font = "11px system-ui"; ctx.fillText(s[0] || "(none)", x0 + 4, area.top + 12); }
      });
      ctx.restore();
    }
  };
  (function () {
    var sel = document.getElementById("run");
    if (!D.series.length) {
      ["power", "runphases", "intensity"].forEach(function (id) { empty(id, "No time series (<run_id>.timeseries.csv) next to the runs."); });
      sel.style.display = "none";
      return;
    }
    D.series.forEach(function (s, k) { var o = el("option", s.id.slice(0, 8) + "  " + dateOf(v(R[s.row], "start"))); o.value = String(k); sel.appendChild(o); });
    function draw() {
      var s = D.series[Number(sel.value)], r = R[s.row];
      var channels = Object.keys(s.ch);
      chart("power", { type: "line", plugins: [phaseBands],
        data: { datasets: channels.map(function (c, k) {
          return { label: c + " W", data: s.t.map(function (t, j) { return { x: t, y: s.ch[c][j] }; }), borderColor: PALETTE[k % PALETTE.length], pointRadius: 0, borderWidth: 1.3, spanGaps: false };
        }) },
        options: { parsing: false, normalized: true, interaction: { mode: "nearest", intersect: false },
          scales: { x: { type: "linear", min: 0, title: { display: true, text: "seconds since start" } }, y: { beginAtZero: true, grace: "10%", title: { display: true, text: "W (mean per bucket)" } } },
          plugins: { phaseBands: { spans: s.phases } } } });
      var names = Object.keys(s.phase_kwh);
      var labels = ["GPU", "CPU", "RAM"].concat(Object.keys(s.dev_kwh)).concat(names.map(function (n) { return "phase " + n; }));
      var kwh = [v(r, "gpu"), v(r, "cpu"), v(r, "ram")].concat(Object.keys(s.dev_kwh).map(function (d) { return s.dev_kwh[d]; }))
        .concat(names.map(function (n) { return s.phase_kwh[n]; }));
      var kg = [null, null, null].concat(Object.keys(s.dev_kwh).map(function () { return null; })).concat(names.map(function (n) { return s.phase_kg[n]; }));
      chart("runphases", { type: "bar",
        data: { labels: labels, datasets: [
          { label: "kWh", data: kwh, backgroundColor: PALETTE[0], yAxisID: "y" },
          { label: "kg CO2eq (operational)", data: kg, backgroundColor: PALETTE[1], yAxisID: "y1" } ] },
        options: { scales: { y: { beginAtZero: true, title: { display: true, text: "kWh" } },
                             y1: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "kg CO2eq" } } } } });
      var info = document.getElementById("runinfo");
      info.textContent = str(r, "id") + " | " + str(r, "project") + " | " + str(r, "status") + " | " + dur(v(r, "dur")) +
        " | " + fmt(v(r, "kwh")) + " kWh | operational " + fmt(v(r, "op")) + " kg + embodied " + fmt(v(r, "emb")) + " kg CO2eq | " +
        (str(r, "hardware") ? str(r, "hardware") + " | " : "") + s.rows + " samples drawn as " + s.t.length + " points";
      var vals = s.intensity.filter(function (x) { return x !== null; });
      var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
      /* the series' intensity is d(kg)/d(kWh) of cells rounded to 9 digits: a constant grid comes back as
         381 +- 0.4 over a long run. Under 1 g/kWh (and 0.5 %) of spread it is one figure, said as such. */
      if (!vals.length || hi - lo < Math.min(1, 0.005 * Math.abs(hi))) {
        if (charts.intensity) { charts.intensity.destroy(); delete charts.intensity; }
        document.getElementById("intensity").parentNode.style.display = "none";
        document.getElementById("intensitynote").textContent = "Constant intensity for this run: " + fmt(v(r, "intensity"), 3) + " g/kWh from " + str(r, "isource") + ".";
        return;
      }
      document.getElementById("intensity").parentNode.style.display = "";
      document.getElementById("intensitynote").textContent = "Intensity per interval (kg CO2eq / kWh) from " + str(r, "isource") + ".";
      chart("intensity", { type: "line", plugins: [phaseBands],
        data: { datasets: [{ label: "g CO2eq/kWh", data: s.t.map(function (t, j) { return { x: t, y: s.intensity[j] }; }), borderColor: PALETTE[3], pointRadius: 0, borderWidth: 1.5, stepped: true }] },
        options: { parsing: false, scales: { x: { type: "linear", min: 0, title: { display: true, text: "seconds since start" } }, y: { beginAtZero: true, grace: "10%", title: { display: true, text: "g/kWh" } } },
          plugins: { phaseBands: { spans: s.phases } } } });
    }
    sel.addEventListener("change", draw);
    draw();
  })();

  /* ---- sortable, paged table of runs ---- */
  (function () {
    var shown = [["id", "run", "t"], ["project", "project", "t"], ["status", "status", "t"], ["start", "start", "t when"],
      ["dur", "duration", ""], ["kwh", "kWh", ""], ["gpu", "GPU kWh", ""], ["cpu", "CPU kWh", ""], ["ram", "RAM kWh", ""],
      ["op", "operational kg", ""], ["emb", "embodied kg", ""], ["j_step", "J/step", ""], ["j_sample", "J/sample", ""],
      ["j_token", "J/token", ""], ["intensity", "g/kWh", ""]];
    /* on a narrow window (report.css) these give way first, so the rest fits without a cut */
    var minor = { gpu: 1, cpu: 1, ram: 1, j_step: 1, j_sample: 1 };
    var label = {};
    shown.forEach(function (c) { label[c[0]] = c[1]; if (minor[c[0]]) c[2] = (c[2] + " minor").trim(); });
    var order = R.map(function (r, i) { return i; });
    var key = "j_token", asc = true, page = 0, size = 100;
    var table = document.getElementById("runs"), head = el("thead"), body = el("tbody"), hr = el("tr");
    shown.forEach(function (c) {
      var th = el("th", c[1], c[2]);
      th.dataset.k = c[0];
      th.addEventListener("click", function () { if (key === c[0]) asc = !asc; else { key = c[0]; asc = true; } page = 0; sort(); render(); });
      hr.appendChild(th);
    });
    head.appendChild(hr); table.appendChild(head); table.appendChild(body);
    function cell(i, k) {
      var r = R[i];
      if (k === "id") return str(r, k).slice(0, 8);  /* the whole id is the cell's title */
      if (k === "project" || k === "status") return str(r, k);
      if (k === "start") return dateOf(v(r, "start"));
      if (k === "dur") return dur(v(r, "dur"));
      return fmt(v(r, k));
    }
    function sortKey(i) {
      var r = R[i];
      return (key === "id" || key === "project" || key === "status") ? str(r, key) : v(r, key);
    }
    function sort() {
      order.sort(function (a, b) {
        var x = sortKey(a), y = sortKey(b);
        if (x === null && y === null) return a - b;
        if (x === null) return 1;   /* runs without the figure go last either way */
        if (y === null) return -1;
        var c = x < y ? -1 : x > y ? 1 : a - b;
        return asc ? c : -c;
      });
    }
    function render() {
      body.textContent = "";
      order.slice(page * size, (page + 1) * size).forEach(function (i) {
        var tr = el("tr");
        shown.forEach(function (c) {
          var td = el("td", cell(i, c[0]), c[2]);
          if (c[0] === "id") td.title = str(R[i], "id");
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      Array.prototype.forEach.call(hr.children, function (th) {
        th.classList.toggle("sorted", th.dataset.k === key);
        th.classList.toggle("asc", th.dataset.k === key && asc);
      });
      document.getElementById("pageinfo").textContent = "runs " + (R.length ? page * size + 1 : 0) + "-" +
        Math.min(R.length, (page + 1) * size) + " of " + R.length + ", sorted by " + label[key] + (asc ? " ascending" : " descending");
    }
    document.getElementById("prev").addEventListener("click", function () { if (page > 0) { page--; render(); } });
    document.getElementById("next").addEventListener("click", function () { if ((page + 1) * size < R.length) { page++; render(); } });
    sort(); render();
  })();
  document.body.dataset.charts = Object.keys(charts).sort().join(" ");
  document.body.dataset.readyMs = String(performance.now());
  document.body.dataset.ready = "1";
})();
