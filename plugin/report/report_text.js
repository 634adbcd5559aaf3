/* qdrant-explain report: text query <-> hit region correspondences (order-2 Shapley-Taylor).
 * Each .text-joint panel has the sentence (span.word[data-word]) and a hit canvas painted from a
 * label map. Hovering or clicking a word paints its row of the word x region matrix over the hit;
 * hovering or clicking a region colours the words by its column. No network, no dependencies. */
(function () {
  "use strict";
  var R = window.qeReport;  // report.js runs first: the report's colour map and helpers
  var cmap = R.cmap, decodeLabels = R.decodeLabels, loadImage = R.loadImage, maxAbs = R.maxAbs, fmt = R.fmt;
  function css(v, scale) { return R.css(v / scale); }

  function HitCanvas(canvas, spec, image) {
    this.canvas = canvas; this.w = spec.w; this.h = spec.h;
    canvas.width = spec.w; canvas.height = spec.h;
    this.ctx = canvas.getContext("2d");
    this.ctx.drawImage(image, 0, 0, spec.w, spec.h);
    this.base = this.ctx.getImageData(0, 0, spec.w, spec.h);
    this.labels = decodeLabels(spec.labels);
  }
  HitCanvas.prototype.regionAt = function (evt) {
    var r = this.canvas.getBoundingClientRect();
    var x = Math.floor((evt.clientX - r.left) * this.w / r.width), y = Math.floor((evt.clientY - r.top) * this.h / r.height);
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return -1;
    return this.labels[y * this.w + x];
  };
  HitCanvas.prototype.paint = function (values, highlight, scale) {
    var out = this.ctx.createImageData(this.w, this.h), o = out.data, b = this.base.data, L = this.labels, w = this.w;
    for (var p = 0; p < this.w * this.h; p++) {
      var i = 4 * p, lab = L[p], r = b[i], g = b[i + 1], bl = b[i + 2];
      var grey = 0.55 * (r + g + bl) / 3 + 0.2 * 255, R = grey + 0.25 * r, G = grey + 0.25 * g, B = grey + 0.25 * bl;
      var x = p % w, edge = (x + 1 < w && L[p + 1] !== lab) || (p + w < L.length && L[p + w] !== lab);
      if (lab < 0) { R = G = B = Math.floor((x + (p - x) / w) / 6) % 2 === 0 ? 120 : 0.5 * grey + 60; }
      else if (values) {
        var t = values[lab] / scale, a = 0.75 * Math.pow(Math.min(1, Math.abs(t)), 0.7), c = cmap(t);
        R = R * (1 - a) + c[0] * a; G = G * (1 - a) + c[1] * a; B = B * (1 - a) + c[2] * a;
      } else if (highlight >= 0 && lab !== highlight) { R *= 0.55; G *= 0.55; B *= 0.55; }
      if (highlight >= 0 && lab === highlight && edge) { R = 245; G = 183; B = 0; }
      else if (edge && lab >= 0) { R *= 0.8; G *= 0.8; B *= 0.8; }
      o[i] = R; o[i + 1] = G; o[i + 2] = B; o[i + 3] = 255;
    }
    this.ctx.putImageData(out, 0, 0);
  };

  function TextPanel(el, spec, image) {
    var self = this;
    this.el = el; this.spec = spec;
    this.hit = new HitCanvas(el.querySelector("canvas[data-side=h]"), spec.h, image);
    this.words = Array.prototype.slice.call(el.querySelectorAll("span.word[data-word]"));
    this.status = el.querySelector(".status");
    this.pinned = null; this.current = undefined;
    this.words.forEach(function (span) {
      var key = "w:" + span.dataset.word;
      span.addEventListener("mouseenter", function () { if (!self.pinned) self.select(key); });
      span.addEventListener("mouseleave", function () { if (!self.pinned) self.select(null); });
      span.addEventListener("click", function () { self.pin(key); });
    });
    var c = this.hit.canvas;
    c.addEventListener("mousemove", function (e) {
      if (self.pinned) return;
      var r = self.hit.regionAt(e); self.select(r >= 0 ? "h:" + r : null);
    });
    c.addEventListener("mouseleave", function () { if (!self.pinned) self.select(null); });
    c.addEventListener("click", function (e) { var r = self.hit.regionAt(e); self.pin(r >= 0 ? "h:" + r : null); });
    this.select(null);
  }
  TextPanel.prototype.pin = function (key) {
    this.pinned = (key && key !== this.pinned) ? key : null;
    this.el.classList.toggle("pinned", !!this.pinned);
    this.current = undefined;
    this.select(this.pinned || key);
  };
  TextPanel.prototype.colourWords = function (values, scale, highlight) {
    this.words.forEach(function (span, i) {
      span.style.background = values ? css(values[i], scale) : "transparent";
      span.classList.toggle("picked", i === highlight);
    });
  };
  TextPanel.prototype.select = function (key) {
    if (key === this.current) return;
    this.current = key;
    var s = this.spec, cross = s.cross;
    this.el.dataset.selection = key || "";
    if (!key) {
      this.colourWords(s.wv, s.scale, -1); this.hit.paint(s.hv, -1, s.scale);
      this.hit.canvas.dataset.shows = "singletons"; this.el.dataset.words = "singletons";
      this.status.textContent = "Showing each side's Shapley values. Hover or click a word to see where the image matches it, or a region to see its words.";
      return;
    }
    var r = parseInt(key.slice(2), 10), row, sc, best;
    if (key[0] === "w") {
      row = cross[r]; sc = maxAbs(row);
      this.colourWords(null, 1, r); this.hit.paint(row, -1, sc);
      this.hit.canvas.dataset.shows = "row-" + r; this.el.dataset.words = "word-" + r;
      best = row.map(function (_, j) { return j; }).sort(function (a, b) { return row[b] - row[a]; }).slice(0, 3);
      this.status.textContent = "Word \u201c" + s.words[r] + "\u201d (value " + fmt(s.wv[r]) + "): its regions in the hit: " +
        best.map(function (j) { return "#" + j + " (" + fmt(row[j]) + ")"; }).join(", ") + ". Colour scale \u00b1" + sc.toPrecision(3) + ".";
    } else {
      row = cross.map(function (line) { return line[r]; }); sc = maxAbs(row);
      this.colourWords(row, sc, -1); this.hit.paint(null, r, 1);
      this.hit.canvas.dataset.shows = "region-" + r; this.el.dataset.words = "col-" + r;
      best = row.map(function (_, i) { return i; }).sort(function (a, b) { return row[b] - row[a]; }).slice(0, 3);
      this.status.textContent = "Hit region #" + r + " (value " + fmt(s.hv[r]) + "): its words: " +
        best.map(function (i) { return "\u201c" + s.words[i] + "\u201d (" + fmt(row[i]) + ")"; }).join(", ") + ".";
    }
  };

  var data = R.data;
  var pending = [];
  Array.prototype.forEach.call(document.querySelectorAll(".text-joint[data-panel]"), function (el) {
    var spec = data.panels[parseInt(el.dataset.panel, 10)];
    pending.push(loadImage(spec.h.img).then(function (img) { el.qePanel = new TextPanel(el, spec, img); }));
  });
  Promise.all(pending).then(function () { document.body.dataset.textReady = "1"; },
                            function (err) { document.body.dataset.textReady = "error"; throw err; });
})();
