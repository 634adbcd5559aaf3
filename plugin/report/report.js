/* qdrant-explain report: query <-> hit region correspondences (order-2 Shapley-Taylor).
 * Each .joint panel has a query canvas and a hit canvas painted from label maps
 * (region index per display pixel, -1 = cut away by the centre crop). Hovering or
 * clicking a region on one side paints that region's row (or column) of the
 * cross matrix over the other side. No network, no dependencies. */
(function () {
  "use strict";
  var RDBU = [[5,48,97],[33,102,172],[67,147,195],[146,197,222],[209,229,240],[247,247,247],
              [253,219,199],[244,165,130],[214,96,77],[178,24,43],[103,0,31]];
  function cmap(t) {
    if (!isFinite(t)) t = 0;
    t = Math.max(-1, Math.min(1, t));
    var pos = (t + 1) / 2 * (RDBU.length - 1), lo = Math.floor(pos), hi = Math.min(lo + 1, RDBU.length - 1), f = pos - lo;
    return [RDBU[lo][0] * (1 - f) + RDBU[hi][0] * f, RDBU[lo][1] * (1 - f) + RDBU[hi][1] * f, RDBU[lo][2] * (1 - f) + RDBU[hi][2] * f];
  }
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

  function Side(canvas, spec, image) {
    this.canvas = canvas;
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
  Side.prototype.regionAt = function (evt) {
    var r = this.canvas.getBoundingClientRect();
    var x = Math.floor((evt.clientX - r.left) * this.w / r.width);
    var y = Math.floor((evt.clientY - r.top) * this.h / r.height);
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return -1;
    return this.labels[y * this.w + x];
  };
  /* values: per-region numbers or null; highlight: region index or -1. */
  Side.prototype.paint = function (values, highlight, scale) {
    var out = this.ctx.createImageData(this.w, this.h), o = out.data, b = this.base.data, L = this.labels;
    var n = this.w * this.h, w = this.w;
    for (var p = 0; p < n; p++) {
      var i = 4 * p, lab = L[p], r = b[i], g = b[i + 1], bl = b[i + 2];
      var grey = 0.55 * (r + g + bl) / 3 + 0.2 * 255;
      var R = grey + 0.25 * r, G = grey + 0.25 * g, B = grey + 0.25 * bl;
      if (lab < 0) {
        var x = p % w, y = (p - x) / w, stripe = Math.floor((x + y) / 6) % 2 === 0;
        R = G = B = stripe ? 120 : 0.5 * grey + 60;
      } else if (values) {
        var t = values[lab] / scale, a = 0.75 * Math.pow(Math.min(1, Math.abs(t)), 0.7), c = cmap(t);
        R = R * (1 - a) + c[0] * a; G = G * (1 - a) + c[1] * a; B = B * (1 - a) + c[2] * a;
      } else if (highlight >= 0 && lab !== highlight) {
        R *= 0.55; G *= 0.55; B *= 0.55;
      }
      if (highlight >= 0 && lab === highlight && this.edge[p]) { R = 245; G = 183; B = 0; }
      else if (this.edge[p] && lab >= 0) { R = R * 0.8; G = G * 0.8; B = B * 0.8; }
      o[i] = R; o[i + 1] = G; o[i + 2] = B; o[i + 3] = 255;
    }
    /* thicken the highlighted outline */
    if (highlight >= 0) {
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

  function Panel(el, spec, qImg, hImg) {
    var self = this;
    this.el = el; this.spec = spec;
    this.q = new Side(el.querySelector("canvas[data-side=q]"), spec.q, qImg);
    this.h = new Side(el.querySelector("canvas[data-side=h]"), spec.h, hImg);
    this.status = el.querySelector(".status");
    this.pinned = null;
    this.current = undefined;
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
        el.classList.toggle("pinned", !!self.pinned);
        self.select(self.pinned || key);
      });
    });
    this.select(null);
  }
  Panel.prototype.select = function (key) {
    if (key === this.current) return;
    this.current = key;
    var s = this.spec, cross = s.cross;
    this.el.dataset.selection = key || "";
    if (!key) {
      this.q.paint(s.qv, -1, s.scale); this.h.paint(s.hv, -1, s.scale);
      this.q.canvas.dataset.shows = "singletons"; this.h.canvas.dataset.shows = "singletons";
      this.status.textContent = "Showing " + (s.label || "region values") + ". Hover or click a region to see its matches on the other side.";
      return;
    }
    var side = key[0], r = parseInt(key.slice(2), 10), row, other, self = this.q, tgt = this.h, name = "hit";
    if (side === "q") { row = cross[r]; }
    else { row = column(cross, r); self = this.h; tgt = this.q; name = "query"; }
    var sc = maxAbs(row);
    self.paint(null, r, 1); tgt.paint(row, -1, sc);
    self.canvas.dataset.shows = "region-" + r;
    tgt.canvas.dataset.shows = (side === "q" ? "row-" : "col-") + r;
    var best = topk(row, 3).map(function (j) { return "#" + j + " (" + fmt(row[j]) + ")"; }).join(", ");
    var own = side === "q" ? s.qv[r] : s.hv[r];
    this.status.textContent = (side === "q" ? "Query" : "Hit") + " region #" + r + " (value " + fmt(own) +
      "): strongest partners in the " + name + ": " + best + ". Colour scale \u00b1" + sc.toPrecision(3) + ".";
  };

  var data = JSON.parse(document.getElementById("qe-data").textContent);
  var panels = document.querySelectorAll(".joint[data-panel]");
  var pending = [];
  Array.prototype.forEach.call(panels, function (el) {
    var spec = data.panels[parseInt(el.dataset.panel, 10)];
    pending.push(Promise.all([loadImage(spec.q.img), loadImage(spec.h.img)]).then(function (imgs) {
      el.qePanel = new Panel(el, spec, imgs[0], imgs[1]);
    }));
  });
  Promise.all(pending).then(function () { document.body.dataset.ready = "1"; },
                            function (err) { document.body.dataset.ready = "error"; throw err; });
})();
