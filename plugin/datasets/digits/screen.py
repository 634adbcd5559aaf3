"""The screen of the digit scenes: which sklearn 8 x 8 digits carry a label a reader disputes.

The labels of the placed digits are the ground truth of the digit scenes, so a
digit whose label independent classifiers dispute would charge the model's
(justified) confusion to the explainer. :func:`screen_digits` computes the
disputed digits; :func:`ambiguous_digits` loads the shipped result
(``ambiguous.json`` beside this module), which the tests check against the
computation.
"""

from __future__ import annotations

import functools
import json
import pathlib

import numpy as np

N_DIGITS = 1797
"""Number of images in sklearn's digits dataset."""

AMBIGUOUS_PATH = pathlib.Path(__file__).resolve().parent / "ambiguous.json"
"""Indices of the sklearn digits :func:`screen_digits` flags (shipped, so loading costs nothing)."""


def screen_digits() -> np.ndarray:
    """(1797,) bool: sklearn digits whose label an independent reader disputes (the computation).

    Three standard classifiers that know nothing of the CNN (an RBF SVM, 3-nearest
    neighbours, logistic regression on standardised pixels) each predict every
    8 x 8 digit out of fold (10 folds, fixed split); a digit is *ambiguous* when any
    of them reads it as another class (66 of the 1797, e.g. #5, a "5" that all of
    them, and the CNN, read as a 9). A few seconds on one core; :func:`ambiguous_digits`
    loads the shipped result (``AMBIGUOUS_PATH``, checked against this in the tests).

    Returns:
        (1797,) bool array, True for a disputed digit.
    """
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from threadpoolctl import threadpool_limits

    data = load_digits()
    folds = StratifiedKFold(10, shuffle=True, random_state=0)
    readers = (
        SVC(gamma=0.001, C=10.0),
        KNeighborsClassifier(3),
        make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)),
    )
    out = np.zeros(len(data.target), dtype=bool)
    with threadpool_limits(1):  # small problems: BLAS threads only contend
        for reader in readers:
            out |= cross_val_predict(reader, data.data, data.target, cv=folds) != data.target
    return out


@functools.lru_cache(maxsize=1)
def ambiguous_digits() -> np.ndarray:
    """(1797,) bool: the digits :func:`screen_digits` flags, as shipped with the package.

    Scenes drawn with ``screened=True`` (the default) leave these digits out, so the
    class labels, which are the benchmark's ground truth, are ones a reader would
    agree with: a misread digit would otherwise charge the model's (justified)
    confusion to the explainer. Regenerate the file with
    ``python -c "from qdrant_explain.datasets.digits import screen; screen.write_ambiguous_digits()"``.

    Returns:
        (1797,) read-only bool array.
    """
    flagged = np.zeros(N_DIGITS, dtype=bool)
    flagged[json.loads(AMBIGUOUS_PATH.read_text())["indices"]] = True
    flagged.setflags(write=False)
    return flagged


def write_ambiguous_digits(path: pathlib.Path = AMBIGUOUS_PATH) -> pathlib.Path:
    """Run :func:`screen_digits` and write its flagged indices to ``path`` (JSON).

    Args:
        path: where to write (default: the shipped ``AMBIGUOUS_PATH``).

    Returns:
        ``path``.
    """
    indices = [int(i) for i in np.flatnonzero(screen_digits())]
    made_by = f"{screen_digits.__module__}.{screen_digits.__qualname__}"
    path.write_text(json.dumps({"made_by": made_by, "indices": indices}) + "\n")
    return path


__all__ = ["AMBIGUOUS_PATH", "N_DIGITS", "ambiguous_digits", "screen_digits", "write_ambiguous_digits"]
