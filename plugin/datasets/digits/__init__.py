"""Digit scenes with known ground truth, their screen, and a small CNN encoder trained on them.

Three rooms:

* :mod:`.scenes`: a *scene* is a black canvas cut into ``grid x grid`` cells with ``k``
  sklearn 8 x 8 digits of distinct classes, one per occupied cell. Two scenes are
  similar exactly as much as their classes overlap (:func:`overlap`, the Ochiai
  coefficient), and the regions that *should* get the credit are the digits they share.
* :mod:`.screen`: the few sklearn digits whose label independent classifiers dispute
  (:func:`screen_digits`; the shipped result ``ambiguous.json``, :func:`ambiguous_digits`),
  left out of scenes by default so that the labels defining the truth are ones a reader
  would agree with.
* :mod:`.constructed`: tasks whose true attributions are known in closed form
  (co-occurrence, redundancy, and their joint query x hit forms): :class:`CellLogicEncoder`,
  a real encoder whose embedding is a known boolean function of which cells hold a digit,
  :func:`make_side_task`, :func:`make_joint_task` and the pure :func:`make_logic_game`.
* :mod:`.cnn`: :class:`DigitsEncoder`, spec ``"digits-cnn"``, trained by
  ``benchmarks/fidelity/train_digits.py`` so that cosine similarity tracks class overlap
  (weights ``digits_cnn.pt`` beside it).
* :mod:`.clip`: ``"digits-clip"``, a text-image contrastive model of mosaics and captions
  naming their digits (the CNN's image tower with a retrained head, a bag-of-words text tower;
  ``benchmarks/text_pointing/train_digits_clip.py``, weights ``digits_clip.pt``).

Importing this package registers ``"digits-cnn"`` with
:func:`qdrant_explain.connectors.encoders.register_encoder` (the factory imports torch
only when called), and :func:`~qdrant_explain.connectors.encoders.load_encoder` imports
it on the first lookup, so ``load_encoder("digits-cnn")`` and ``--encoder digits-cnn``
work without importing it first.

Example:
    >>> import numpy as np
    >>> from qdrant_explain.datasets.digits import load_digits_encoder, make_scenes
    >>> enc = load_digits_encoder()
    >>> scenes = make_scenes(4, seed=0, split="test")
    >>> enc.encode(np.stack([s.image for s in scenes])).shape   # doctest: +SKIP
    (4, 32)
"""

from __future__ import annotations

from qdrant_explain.connectors.encoders import register_encoder

from .clip import CLIP_SPEC, DigitsClipEncoder, caption, load_digits_clip
from .cnn import SPEC, WEIGHTS_PATH, DigitsEncoder, build_network, load_digits_encoder, to_tensor
from .scenes import (
    CANVAS,
    DIGIT_SCALE,
    GRID,
    N_CLASSES,
    SPLITS,
    Scene,
    digit_bank,
    digit_pool,
    make_scene,
    make_scenes,
    multi_hot,
    overlap,
)
from . import constructed as _constructed
from .constructed import (  # noqa: F401 (listed in __all__ through _constructed.__all__)
    FEATURE_KINDS,
    JOINT_TASKS,
    PRESENCE_THRESHOLD,
    SIDE_TASKS,
    CellFeature,
    CellLogicEncoder,
    JointTask,
    JointTruth,
    LogicGame,
    SideTask,
    game_value,
    make_joint_task,
    make_logic_game,
    make_side_task,
    shapley_from_moebius,
    shapley_taylor2_from_moebius,
    weighted_moebius,
)
from .screen import AMBIGUOUS_PATH, N_DIGITS, ambiguous_digits, screen_digits, write_ambiguous_digits

register_encoder(SPEC, load_digits_encoder, overwrite=True)
register_encoder(CLIP_SPEC, load_digits_clip, overwrite=True)

__all__ = [
    # scenes
    "CANVAS",
    "DIGIT_SCALE",
    "GRID",
    "N_CLASSES",
    "SPLITS",
    "Scene",
    "digit_bank",
    "digit_pool",
    "make_scene",
    "make_scenes",
    "multi_hot",
    "overlap",
    # screen
    "AMBIGUOUS_PATH",
    "N_DIGITS",
    "ambiguous_digits",
    "screen_digits",
    "write_ambiguous_digits",
    # tasks with a constructed truth
    *_constructed.__all__,
    # the CNN
    "SPEC",
    "WEIGHTS_PATH",
    "DigitsEncoder",
    "build_network",
    "load_digits_encoder",
    # the text-image model (digits-clip)
    "CLIP_SPEC",
    "DigitsClipEncoder",
    "caption",
    "load_digits_clip",
    "to_tensor",
]
