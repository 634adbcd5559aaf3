"""Evaluate a value function on a coalition matrix: validated, deduplicated, batched.

This is the single place where a game is called. Estimators only *plan*
coalitions and *solve* from values, so batching, caching or remote evaluation
plug in here without touching the math.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._typing import CoalitionMatrix, GameValues, ValueFunction


@dataclass(frozen=True)
class Evaluation:
    """Values of a planned coalition matrix.

    Attributes:
        values: (m,) value of every planned row, duplicates included.
        n_evaluations: number of distinct coalitions the game was called on.
    """

    values: GameValues
    n_evaluations: int


def check_coalitions(coalitions: np.ndarray, n_players: int, *, caller: str = "evaluate") -> CoalitionMatrix:
    """Return ``coalitions`` as a (m, n_players) boolean matrix or raise ValueError."""
    z = np.asarray(coalitions)
    if z.ndim != 2 or z.shape[1] != n_players:
        raise ValueError(
            f"{caller} expects a coalition matrix of shape (m, {n_players}); got shape {z.shape}."
        )
    if z.dtype != bool:
        if not np.isin(z, (0, 1)).all():
            raise ValueError(f"{caller} expects a boolean coalition matrix; got values other than 0/1.")
        z = z.astype(bool)
    return z


def check_game_output(raw: object, n_rows: int, *, caller: str = "value function") -> GameValues:
    """Validate what a value function returned for ``n_rows`` coalitions."""
    try:
        out = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"The {caller} must return {n_rows} real numbers (one per coalition row); "
            f"got an object of type {type(raw).__name__} that is not numeric ({exc})."
        ) from None
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape != (n_rows,):
        raise ValueError(
            f"The {caller} must return an array of shape ({n_rows},) for a ({n_rows}, n) coalition "
            f"matrix; got shape {out.shape}."
        )
    bad = ~np.isfinite(out)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"The {caller} returned {int(bad.sum())} non-finite value(s) (NaN or inf), the first for "
            f"coalition row {first}. Games must return finite floats for every coalition."
        )
    return out


def unique_rows(coalitions: CoalitionMatrix) -> tuple[CoalitionMatrix, np.ndarray]:
    """Distinct rows of a boolean matrix and, for each input row, its index among them."""
    if coalitions.shape[0] == 0:
        return coalitions, np.zeros(0, dtype=np.int64)
    packed = np.packbits(coalitions, axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    return coalitions[first], inverse.reshape(-1)


def evaluate(
    value_fn: ValueFunction,
    coalitions: CoalitionMatrix,
    *,
    batch_size: int = 1024,
    progress: bool = False,
    desc: str = "coalitions",
) -> Evaluation:
    """Call ``value_fn`` once per distinct coalition, ``batch_size`` rows at a time.

    Args:
        value_fn: maps a (b, n) boolean matrix to b finite floats.
        coalitions: (m, n) boolean matrix; rows may repeat.
        batch_size: most rows passed to ``value_fn`` in one call (>= 1).
        progress: show a tqdm bar (silent anyway when stderr is not a TTY).
        desc: label of the progress bar.

    Returns:
        :class:`Evaluation` with the (m,) values and the count of distinct calls.

    Raises:
        ValueError: bad batch size, or a value function that returns the wrong
            shape, non-numbers, NaN or inf.
    """
    if int(batch_size) < 1:
        raise ValueError(f"evaluate needs batch_size >= 1; got batch_size={batch_size}.")
    z = np.asarray(coalitions, dtype=bool)
    distinct, inverse = unique_rows(z)
    out = np.empty(distinct.shape[0], dtype=np.float64)
    starts = range(0, distinct.shape[0], int(batch_size))
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc, unit="batch", disable=None, leave=False)
    for start in starts:
        batch = distinct[start : start + int(batch_size)]
        out[start : start + batch.shape[0]] = check_game_output(value_fn(batch.copy()), batch.shape[0])
    return Evaluation(values=out[inverse], n_evaluations=int(distinct.shape[0]))


__all__ = ["Evaluation", "evaluate", "check_coalitions", "check_game_output", "unique_rows"]
