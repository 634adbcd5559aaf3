/* qdrant-explain report: numbered regions, query <-> hit correspondences, a threshold slider.
 * Each .joint panel (order 2) has a query canvas and a hit canvas painted from label maps
 * (region index per display pixel, -1 = cut away by the centre crop). Hovering or clicking
 * a region on one side paints that region's row (or column) of the cross matrix over the
 * other side; lines join the strongest query<->hit pairs. Each .saliency panel (order 1)
 * numbers the regions of its heatmaps and fades those under the threshold. Region k is the
 * k-th distinct label in ascending order: the numbers of the summary sentence. The colours
 * are the report's colour-blind-safe diverging map (data.cmap). No network, no dependencies. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("qe-data").textContent);
  var STOPS = (data.cmap || ["#2d004b", "#f7f7f7", "#7f3b08"]).map(function (h) {
    return [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];
  });
  function cmap(t) {
    if (!isFinite(t)) t = 0;
    t = Math.max(-1, Math.min(1, t));
    var pos = (t + 1) / 2 * (STOPS.length - 1), lo = Math.floor(pos), hi = Math.min(lo + 1, STOPS.length - 1), f = pos - lo;
    return [STOPS[lo][0] * (1 - f) + STOPS[hi][0] * f, STOPS[lo][1] * (1 - f) + STOPS[hi][1] * f, STOPS[lo][2] * (1 - f) + STOPS[hi][2] * f];
  }
  function css(t) { var c = cmap(t); return "rgb(" + Math.round(c[0]) + "," + Math.round(c[1]) + "," + Math.round(c[2]) + ")"; }
  function decodeLabels(b64) {
    var bin = atob(b64), u8 = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
    return new Int16Array(u8.buffer);
  }
  function loadImage(src) {
    return new Promise(function (resolve, reject) {
      var im = new Image();
      im.onload = function () { resolve(im); };
      im.onerror = function () { reject(new Error("qdrant-explain: could not decode an embedded image")); };
      im.src = src;
    });
  }
  function maxAbs(values) {
    var m = 0;
    for (var i = 0; i < values.length; i++) { var a = Math.abs(values[i]); if (a > m) m = a; }
    return m > 0 ? m : 1;
  }
  function fmt(v) { return (v >= 0 ? "+" : "\u2212") + Math.abs(v).toPrecision(3); }
  // shared with the other panels' scripts of the page (report_text.js): one colour map, one label decoder
  window.qeReport = {data: data, cmap: cmap, css: css, decodeLabels: decodeLabels, loadImage: loadImage,
                     maxAbs: maxAbs, fmt: fmt};
  function pct(s) { return Math.round(100 * s) + " %"; }
  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function regionName(spec, k) {
    var w = spec.where && spec.where[k];
    return spec.side + " region " + k + (w ? " (" + w + ")" : "");
  }
  /* "query region 3 (top left): +0.0123, 6 % of the score; 95 % interval ± 0.004" */
  function describe(spec, k, value, share, se, what, total) {
    var text = regionName(spec, k) + ": " + (what || "value") + " " + fmt(value);
    if (share !== null && share !== undefined) {
      text += ", " + pct(share) + " of the score (the values add up to full \u2212 base = " + fmt(total) + ")";
    } else {
      text += " (no share: the baseline scores at least as high as the full pair)";
    }
    if (se !== null && se !== undefined) {
      var half = 1.96 * se;
      text += "; 95 % interval \u00b1 " + half.toPrecision(2) + (Math.abs(value) <= half ? ", covers 0: the sign is not established" : "");
    }
    return text;
  }

  /* Wrap an <img> or <canvas> in a positioned .stage so layers can lie over it. */
  function stage(target) {
    var st = document.createElement("div");
    st.className = "stage";
    target.parentNode.insertBefore(st, target);
    st.appendChild(target);
    return st;
  }

  /* The numbers of one image's regions, an SVG over the stage (viewBox in display pixels). */
  function Numbers(st, spec) {
    this.spec = spec;
    this.svg = el("svg", {"class": "region-numbers", viewBox: "0 0 " + spec.w + " " + spec.h,
                          preserveAspectRatio: "none", role: "group", "aria-label": spec.side + " region numbers"}, st);
    this.items = [];
    var r = Math.max(6, Math.min(9, Math.round(Math.min(spec.w, spec.h) / 28)));
    for (var k = 0; k < spec.anchors.length; k++) {
      var a = spec.anchors[k];
      if (a[0] < 0) { this.items.push(null); continue; }
      var g = el("g", {"class": "rn", "data-region": String(k), tabindex: "-1"}, this.svg);
      var title = el("title", {}, g);
      el("circle", {cx: a[0], cy: a[1], r: r}, g);
      var t = el("text", {x: a[0], y: a[1], "font-size": Math.round(r * 1.25), "text-anchor": "middle", "dominant-baseline": "central"}, g);
      t.textContent = String(k);
      title.textContent = regionName(spec, k);
      this.items.push({g: g, title: title});
    }
  }
  /* A number lies over its image: pointer moves and clicks on it go on to the image below (its title still shows). */
  Numbers.prototype.forwardTo = function (target) {
    ["mousemove", "click"].forEach(function (type) {
      this.svg.addEventListener(type, function (e) {
        target.dispatchEvent(new MouseEvent(type, {clientX: e.clientX, clientY: e.clientY, bubbles: true}));
      });
    }, this);
    return this;
  };
  /* texts: hover text per region; shown: bool per region (false = faded); active: region or -1. */
  Numbers.prototype.update = function (texts, shown, active) {
    for (var k = 0; k < this.items.length; k++) {
      var it = this.items[k];
      if (!it) continue;
      if (texts) it.title.textContent = texts[k];
      it.g.classList.toggle("faded", shown ? !shown[k] : false);
      it.g.classList.toggle("active", k === active);
    }
  };

  function Side(canvas, spec, image) {
    this.canvas = canvas;
    this.spec = spec;
    this.w = spec.w; this.h = spec.h;
    canvas.width = spec.w; canvas.height = spec.h;
    this.ctx = canvas.getContext("2d");
    this.ctx.drawImage(image, 0, 0, spec.w, spec.h);
    this.base = this.ctx.getImageData(0, 0, spec.w, spec.h);
    this.labels = decodeLabels(spec.labels);
    var n = this.w * this.h, L = this.labels, w = this.w;
    this.edge = new Uint8Array(n);
    for (var p = 0; p < n; p++) {
      var x = p % w;
      if ((x + 1 < w && L[p + 1] !== L[p]) || (p + w < n && L[p + w] !== L[p])) this.edge[p] = 1;
    }
  }
  function regionAt(canvas, spec, labels, evt) {
    var r = canvas.getBoundingClientRect();
    var x = Math.floor((evt.clientX - r.left) * spec.w / r.width);
    var y = Math.floor((evt.clientY - r.top) * spec.h / r.height);
    if (x < 0 || y < 0 || x >= spec.w || y >= spec.h) return -1;
    return labels[y * spec.w + x];
  }
  Side.prototype.regionAt = function (evt) { return regionAt(this.canvas, this.spec, this.labels, evt); };
  /* values: per-region numbers or null; highlight: region index or -1; below |t| a region keeps no colour. */
  Side.prototype.paint = function (values, highlight, scale, t) {
    var out = this.ctx.createImageData(this.w, this.h), o = out.data, b = this.base.data, L = this.labels;
    var n = this.w * this.h, w = this.w;
    t = t || 0;
    for (var p = 0; p < n; p++) {
      var i = 4 * p, lab = L[p], r = b[i], g = b[i + 1], bl = b[i + 2];
      var grey = 0.55 * (r + g + bl) / 3 + 0.2 * 255;
      var R = grey + 0.25 * r, G = grey + 0.25 * g, B = grey + 0.25 * bl;
      if (lab < 0) {
        var x = p % w, y = (p - x) / w, stripe = Math.floor((x + y) / 6) % 2 === 0;
        R = G = B = stripe ? 120 : 0.5 * grey + 60;
      } else if (values) {
        var v = values[lab];
        if (Math.abs(v) >= t) {
          var s = v / scale, a = 0.75 * Math.pow(Math.min(1, Math.abs(s)), 0.7), c = cmap(s);
          R = R * (1 - a) + c[0] * a; G = G * (1 - a) + c[1] * a; B = B * (1 - a) + c[2] * a;
        } else {
          R = 0.5 * R + 120; G = 0.5 * G + 120; B = 0.5 * B + 120;
        }
      } else if (highlight >= 0 && lab !== highlight) {
        R *= 0.55; G *= 0.55; B *= 0.55;
      }
      if (highlight >= 0 && lab === highlight && this.edge[p]) { R = 245; G = 183; B = 0; }
      else if (this.edge[p] && lab >= 0) { R = R * 0.8; G = G * 0.8; B = B * 0.8; }
      o[i] = R; o[i + 1] = G; o[i + 2] = B; o[i + 3] = 255;
    }
    if (highlight >= 0) { /* thicken the highlighted outline */
      for (var q = 0; q < n; q++) {
        if (L[q] === highlight && this.edge[q]) {
          var k = 4 * q;
          if (q + 1 < n) { o[k + 4] = 245; o[k + 5] = 183; o[k + 6] = 0; }
          if (q + w < n) { o[k + 4 * w] = 245; o[k + 4 * w + 1] = 183; o[k + 4 * w + 2] = 0; }
        }
      }
    }
    this.ctx.putImageData(out, 0, 0);
  };

  function column(cross, j) { var c = new Array(cross.length); for (var i = 0; i < cross.length; i++) c[i] = cross[i][j]; return c; }
  function topk(values, k) {
    var idx = values.map(function (_, i) { return i; });
    idx.sort(function (a, b) { return values[b] - values[a]; });
    return idx.slice(0, k);
  }
  function shownBy(values, t) { return values.map(function (v) { return Math.abs(v) >= t; }); }

  /* The slider of a panel: calls back with t on every move, shows t in its <output>. */
  function slider(root, onChange) {
    var input = root.querySelector(".threshold input[type=range]"), out = root.querySelector(".threshold output");
    if (!input) return 0;
    input.addEventListener("input", function () {
      var t = parseFloat(input.value);
      out.textContent = t.toPrecision(3);
      onChange(t);
    });
    return parseFloat(input.value);
  }

  /* ---------------------------------------------------------------- order 2: the joint panel */
  function Panel(root, spec, qImg, hImg) {
    var self = this;
    this.el = root; this.spec = spec;
    this.q = new Side(root.querySelector("canvas[data-side=q]"), spec.q, qImg);
    this.h = new Side(root.querySelector("canvas[data-side=h]"), spec.h, hImg);
    this.qn = new Numbers(stage(this.q.canvas), spec.q).forwardTo(this.q.canvas);
    this.hn = new Numbers(stage(this.h.canvas), spec.h).forwardTo(this.h.canvas);
    this.figs = this.q.canvas.closest(".figs");
    this.lines = el("svg", {"class": "pair-lines", "aria-hidden": "true"}, this.figs);
    this.status = root.querySelector(".status");
    this.pinned = null;
    this.current = undefined;
    this.t = slider(root, function (t) { self.t = t; self.repaint(); });
    [["q", this.q], ["h", this.h]].forEach(function (pair) {
      var side = pair[0], obj = pair[1];
      obj.canvas.addEventListener("mousemove", function (e) {
        if (self.pinned) return;
        var r = obj.regionAt(e);
        self.select(r >= 0 ? side + ":" + r : null);
      });
      obj.canvas.addEventListener("mouseleave", function () { if (!self.pinned) self.select(null); });
      obj.canvas.addEventListener("click", function (e) {
        var r = obj.regionAt(e), key = r >= 0 ? side + ":" + r : null;
        self.pinned = (key && key !== self.pinned) ? key : null;
        root.classList.toggle("pinned", !!self.pinned);
        self.select(self.pinned || key);
      });
    });
    var redraw = function () { self.drawLines(); };
    if (window.ResizeObserver) new ResizeObserver(redraw).observe(this.figs);
    window.addEventListener("resize", redraw);
    this.select(null);
  }
  Panel.prototype.pairText = function (p) {
    var s = this.spec, text = regionName(s.q, p[0]) + " \u2194 " + regionName(s.h, p[1]) + ": pair value " + fmt(p[2]);
    return text + (p[3] !== null ? ", " + pct(p[3]) + " of the score" : "") +
      (p[2] >= 0 ? " (together they raise the score beyond their own values)" : " (together they lower it)");
  };
  Panel.prototype.drawLines = function () {
    var s = this.spec, svg = this.lines, t = this.t, self = this;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var box = this.figs.getBoundingClientRect();
    svg.setAttribute("viewBox", "0 0 " + box.width + " " + box.height);
    svg.setAttribute("width", box.width); svg.setAttribute("height", box.height);
    function at(side, k) {
      var r = side.canvas.getBoundingClientRect(), a = side.spec.anchors[k];
      return [r.left - box.left + a[0] * r.width / side.spec.w, r.top - box.top + a[1] * r.height / side.spec.h];
    }
    var biggest = s.pairs.length ? Math.abs(s.pairs[0][2]) || 1 : 1, shown = 0;
    s.pairs.forEach(function (p) {
      if (Math.abs(p[2]) < t || p[2] === 0 || s.q.anchors[p[0]][0] < 0 || s.h.anchors[p[1]][0] < 0) return;
      var a = at(self.q, p[0]), b = at(self.h, p[1]);
      var line = el("line", {"class": "pair-line", "data-pair": p[0] + "-" + p[1], x1: a[0], y1: a[1], x2: b[0], y2: b[1],
                             stroke: css(p[2] > 0 ? 0.85 : -0.85), "stroke-width": (1.2 + 4 * Math.abs(p[2]) / biggest).toFixed(2)}, svg);
      el("title", {}, line).textContent = self.pairText(p);
      line.addEventListener("mouseenter", function () { self.status.textContent = self.pairText(p); });
      shown++;
    });
    this.el.dataset.lines = String(shown);
  };
  Panel.prototype.repaint = function () { var key = this.current; this.current = undefined; this.select(key); };
  Panel.prototype.select = function (key) {
    if (key === this.current) return;
    this.current = key;
    var s = this.spec, cross = s.cross, t = this.t, qs = s.qshare || [], hs = s.hshare || [];
    this.el.dataset.selection = key || "";
    this.drawLines();
    if (!key) {
      this.q.paint(s.qv, -1, s.scale, t); this.h.paint(s.hv, -1, s.scale, t);
      this.q.canvas.dataset.shows = "singletons"; this.h.canvas.dataset.shows = "singletons";
      this.qn.update(s.qv.map(function (v, k) { return describe(s.q, k, v, s.qshare ? qs[k] : null, null, "value", s.total); }), shownBy(s.qv, t), -1);
      this.hn.update(s.hv.map(function (v, k) { return describe(s.h, k, v, s.hshare ? hs[k] : null, null, "value", s.total); }), shownBy(s.hv, t), -1);
      this.status.textContent = "Showing " + (s.label || "region values") + "; lines join the strongest query\u2194hit pairs. " +
        "Hover or click a region to see its matches on the other side.";
      return;
    }
    var side = key[0], r = parseInt(key.slice(2), 10), row, me = this.q, tgt = this.h, name = "hit", myN = this.qn, tgtN = this.hn;
    if (side === "q") { row = cross[r]; }
    else { row = column(cross, r); me = this.h; tgt = this.q; name = "query"; myN = this.hn; tgtN = this.qn; }
    var sc = maxAbs(row), total = s.total, share = function (v) { return total > 0 ? v / total : null; };
    me.paint(null, r, 1, 0); tgt.paint(row, -1, sc, 0); /* a selected region shows all its partners; the lines keep the threshold */
    me.canvas.dataset.shows = "region-" + r;
    tgt.canvas.dataset.shows = (side === "q" ? "row-" : "col-") + r;
    myN.update(null, null, r);
    tgtN.update(row.map(function (v, k) { return describe(tgt.spec, k, v, share(v), null, "pair value with " + regionName(me.spec, r) + ":", total); }),
                null, -1);
    var best = topk(row, 3).map(function (j) { return "#" + j + " (" + fmt(row[j]) + (total > 0 ? ", " + pct(row[j] / total) : "") + ")"; }).join(", ");
    var own = side === "q" ? s.qv[r] : s.hv[r];
    this.status.textContent = regionName(me.spec, r).replace(/^./, function (c) { return c.toUpperCase(); }) + " (value " + fmt(own) +
      "): strongest partners in the " + name + ": " + best + ". Colour scale \u00b1" + sc.toPrecision(3) + ".";
  };

  /* ---------------------------------------------------------------- order 1: the saliency panel */
  function Saliency(root, spec) {
    var self = this;
    this.el = root; this.spec = spec; this.layers = [];
    this.status = root.querySelector(".status");
    [["q", "query"], ["h", "hit"]].forEach(function (pair) {
      var sp = spec[pair[0]], img = sp && root.querySelector('img[alt="' + pair[1] + ' heatmap"]');
      if (!img) return;
      var st = stage(img), veil = document.createElement("canvas");
      veil.className = "veil"; veil.width = sp.w; veil.height = sp.h;
      veil.dataset.side = pair[0];
      st.appendChild(veil);
      var layer = {spec: sp, veil: veil, labels: decodeLabels(sp.labels), numbers: new Numbers(st, sp).forwardTo(veil)};
      veil.addEventListener("mousemove", function (e) { self.hover(layer, regionAt(veil, sp, layer.labels, e)); });
      veil.addEventListener("mouseleave", function () { self.hover(layer, -1); });
      self.layers.push(layer);
    });
    this.t = slider(root, function (t) { self.t = t; self.paint(); });
    this.paint();
    this.status.textContent = "Hover a region for its value and share of the score; the slider fades regions below |value| \u2265 t.";
  }
  Saliency.prototype.text = function (sp, k) {
    return describe(sp, k, sp.values[k], sp.shares ? sp.shares[k] : null, sp.stderr ? sp.stderr[k] : null, "Shapley value", this.spec.total);
  };
  Saliency.prototype.paint = function () {
    var t = this.t, self = this, n = 0;
    this.layers.forEach(function (layer) {
      var sp = layer.spec, ctx = layer.veil.getContext("2d"), out = ctx.createImageData(sp.w, sp.h), o = out.data, L = layer.labels;
      var shown = shownBy(sp.values, t);
      for (var p = 0; p < L.length; p++) {
        if (L[p] >= 0 && !shown[L[p]]) { o[4 * p] = 246; o[4 * p + 1] = 247; o[4 * p + 2] = 249; o[4 * p + 3] = 200; }
      }
      ctx.putImageData(out, 0, 0);
      layer.numbers.update(sp.values.map(function (_, k) { return self.text(sp, k); }), shown, -1);
      n += shown.filter(Boolean).length;
    });
    this.el.dataset.shown = String(n);
  };
  Saliency.prototype.hover = function (layer, k) {
    layer.numbers.update(null, shownBy(layer.spec.values, this.t), k);
    if (k >= 0) this.status.textContent = this.text(layer.spec, k).replace(/^./, function (c) { return c.toUpperCase(); });
  };

  var pending = [];
  Array.prototype.forEach.call(document.querySelectorAll(".joint[data-panel]"), function (root) {
    var spec = data.panels[parseInt(root.dataset.panel, 10)];
    pending.push(Promise.all([loadImage(spec.q.img), loadImage(spec.h.img)]).then(function (imgs) {
      root.qePanel = new Panel(root, spec, imgs[0], imgs[1]);
    }));
  });
  Array.prototype.forEach.call(document.querySelectorAll(".saliency[data-panel]"), function (root) {
    root.qePanel = new Saliency(root, data.panels[parseInt(root.dataset.panel, 10)]);
  });
  Promise.all(pending).then(function () { document.body.dataset.ready = "1"; },
                            function (err) { document.body.dataset.ready = "error"; throw err; });
})();
