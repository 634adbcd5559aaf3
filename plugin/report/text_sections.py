"""Report sections of text queries: the sentence with coloured words, and the word <-> region panel.

- :class:`TextQuerySection`: the query sentence, each word coloured by its value (orange raises the
  score, purple lowers it), the value in its tooltip.
- :class:`TextPairCard`: one hit explained for a text. At order 2 an interactive panel
  (``.text-joint``, drawn by ``report_text.js``): hovering or clicking a word paints its row of
  the word x region matrix over the hit; hovering a region colours the words by its column; the
  strongest word <-> region pairs are listed. At order 1 the hit heatmap and the sentence.

Like :mod:`.sections`, this module imports nothing from the results (no import circle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _images
from .sections import MAX_SIDE, Card, Page, Section, _fig, _labels_b64, card_head, esc, legend, num, payload_html


def _css_colour(value: float | None, scale: float) -> str:
    if value is None or not np.isfinite(value):
        return "transparent"
    t = float(value) / scale if scale > 0 else 0.0
    r, g, b = (int(round(c)) for c in _images.diverging(np.array([t]))[0])
    return f"rgb({r},{g},{b})"


def sentence_html(words: Any, values: np.ndarray | None, scale: float, *, panel: int | None = None) -> str:
    """The sentence as HTML: each word a ``<span class="word" data-word=i>`` coloured by ``values[i]``;
    the gaps (spaces, punctuation) as plain escaped text."""
    out = []
    k = 0
    for seg, is_word in zip(words.segments, words.is_word):
        if not is_word:
            out.append(esc(seg))
            continue
        v = None if values is None else float(values[k])
        tip = "" if v is None else f' title="{esc(seg)}: {v:+.4g}"'
        out.append(f'<span class="word" data-word="{k}" style="background:{_css_colour(v, scale)}"{tip}>{esc(seg)}</span>')
        k += 1
    attr = "" if panel is None else f' data-panel="{panel}"'
    return f'<p class="sentence"{attr}>' + "".join(out) + "</p>"


def sentence_image(words: Any, values: np.ndarray | None, scale: float, *, width: int = 384) -> np.ndarray:
    """(h, width, 3) uint8 picture of the sentence, each word on a box coloured by its value (for PNGs)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h, pad, x, y = 18, 6, 6, 6
    boxes = []
    k = 0
    for seg, is_word in zip(words.segments, words.is_word):
        text = seg if is_word else " ".join(seg.split()) if seg.strip() else " "
        w = int(probe.textlength(text, font=font)) + (4 if is_word else 0)
        if x + w > width - pad and x > pad:
            x, y = pad, y + line_h + 4
        colour = None
        if is_word:
            v = None if values is None else float(values[k])
            colour = (255, 255, 255) if v is None else tuple(int(c) for c in _images.diverging(np.array([v / scale]))[0])
            k += 1
        boxes.append((x, y, w, text, colour))
        x += w
    img = Image.new("RGB", (width, y + line_h + pad), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for bx, by, w, text, colour in boxes:
        if colour is not None:
            draw.rectangle([bx, by, bx + w - 1, by + line_h - 1], fill=colour)
            dark = sum(colour) < 300
            draw.text((bx + 2, by + 3), text, fill=(255, 255, 255) if dark else (0, 0, 0), font=font)
        else:
            draw.text((bx, by + 3), text, fill=(60, 60, 60), font=font)
    return np.asarray(img, dtype=np.uint8)


@dataclass(frozen=True, eq=False)
class TextQuerySection(Section):
    """The query sentence with its words coloured by their values (the text side's Shapley values)."""

    explanation: Any

    def render(self, page: Page) -> str:
        """``<section>`` with the sentence and a legend."""
        e = self.explanation
        colours = e.word_colours
        scale = _images.symmetric_scale(colours)
        what = "each word's Shapley value (the image kept whole)" if colours is not None else "not explained"
        return (f'<section><h2>Query text</h2><div class="text-query">{sentence_html(e.words, colours, scale)}'
                f'<div class="hint">Words coloured by {esc(what)}.</div>{legend(e.higher_is_better, scale)}</div></section>')


@dataclass(frozen=True, eq=False)
class TextPairCard(Card):
    """One hit explained for a text query: header, the word <-> region panel (order 2) or the heatmap, payload."""

    explanation: Any
    rank: int | None = None

    def render(self, page: Page) -> str:
        """The card's HTML (the panel's data goes to ``page``)."""
        e = self.explanation
        head = card_head(e, self.rank)
        meta = (f"order {e.order} · {esc(e.method)} · {e.n_words} words × {esc(e.n_hit_players)} regions · "
                f"{esc(e.text_passes)} text + {esc(e.image_passes)} image encodes · {num(e.seconds, 2)} s · "
                f"base {num(e.base_value)} → full {num(e.full_value)} · words masked by {esc(e.text_mode)}")
        head.append(f'<span class="meta">{meta}</span>')
        for w in (e.extra or {}).get("warnings", ()):
            head.append(f'<span class="warn">{esc(w)}</span>')
        if e.order == 2 and e.cross is not None and e.hit_image is not None and e.hit_labels is not None:
            body = self._joint_panel(page)
        else:
            body = self._static()
        return ('<div class="card"><div class="card-head">' + "".join(head) + "</div>" + body
                + payload_html(e.hit_payload) + "</div>")

    def _static(self) -> str:
        e = self.explanation
        scale = _images.symmetric_scale(e.word_colours, e.hit_heatmap)
        figs = []
        if e.hit_image is not None:
            thumb = _images.thumbnail(e.hit_image, MAX_SIDE)
            if e.hit_heatmap is not None:
                ov = _images.overlay(thumb, _images.resize_nearest(e.hit_heatmap, thumb.shape[:2]), scale=scale)
                figs.append(_fig(_images.data_uri(ov), "hit: which regions made it come back", alt="hit heatmap"))
            else:
                figs.append(_fig(_images.data_uri(thumb), "hit (regions not explained)", alt="hit"))
        return (sentence_html(e.words, e.word_colours, scale) + '<div class="figs">' + "".join(figs) + "</div>"
                + legend(e.higher_is_better, scale))

    def _joint_panel(self, page: Page) -> str:
        e = self.explanation
        size = _images.display_size(e.hit_image.shape, MAX_SIDE)
        cross = np.asarray(e.cross, dtype=np.float64)
        wv = e.word_colours if e.word_colours is not None else np.zeros(cross.shape[0])
        hv = e.region_colours if e.region_colours is not None else np.zeros(cross.shape[1])
        scale = _images.symmetric_scale(wv, hv)
        k = page.add_panel({
            "kind": "text",
            "h": {"img": _images.data_uri(_images.thumbnail(e.hit_image, MAX_SIDE)), "w": size[1], "h": size[0],
                  "labels": _labels_b64(e.hit_labels, size)},
            "cross": np.round(cross, 7).tolist(), "wv": np.round(wv, 7).tolist(), "hv": np.round(hv, 7).tolist(),
            "words": list(e.words.words), "scale": scale,
        })
        rows = "".join(f"<tr><td>{esc(w)}</td><td>#{j}</td><td>{v:+.4g}</td></tr>" for _, w, j, v in e.top_pairs(5))
        return (f'<div class="text-joint" data-panel="{k}">{sentence_html(e.words, wv, scale, panel=k)}'
                f'<div class="figs"><figure><canvas class="region-map" data-side="h" width="{size[1]}" '
                f'height="{size[0]}"></canvas><figcaption>Hit regions ({cross.shape[1]}): hover or click one; '
                f"hover or click a word to see where it is matched</figcaption></figure>"
                f'<table class="pairs"><tr><th>word</th><th>region</th><th>pair value</th></tr>{rows}</table></div>'
                f'<div class="status"></div>{legend(e.higher_is_better)}</div>')


__all__ = ["TextPairCard", "TextQuerySection", "sentence_html", "sentence_image"]
