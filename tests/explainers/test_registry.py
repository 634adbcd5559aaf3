"""Estimators register by subclassing: from any file, checked at definition, listed by the vocabulary."""

from __future__ import annotations

import importlib.util
import textwrap

import numpy as np
import pytest

from qdrant_explain.explainers import KernelSHAP, explain_game, get_estimator, list_estimators
from qdrant_explain.explainers.api import ESTIMATORS
from qdrant_explain.explainers.estimators.base import Estimator, registered_estimators, unregister_estimator
from qdrant_explain.explainers.joint import JointEstimator
from qdrant_explain.explainers.vocabulary import list_methods, resolve_method

PLUGIN = '''
"""A third-party estimator: leave-one-in values v({i}) - v(empty), in a file outside the package."""
import numpy as np
from qdrant_explain.explainers import Estimator, Plan


class LeaveOneIn(Estimator):
    name, orders = "qe-test-leave-one-in", (1,)

    def __init__(self, *, order=1, scale=1.0):
        self.order = order
        self.scale = scale

    def minimum_budget(self, n_players):
        return n_players + 2

    def _plan(self, n_players, budget, rng):
        z = np.concatenate([np.zeros((1, n_players), bool), np.ones((1, n_players), bool), np.eye(n_players, dtype=bool)])
        return Plan(z, n_players, budget, None, {})

    def _solve(self, plan, values):
        return self._explanation(plan, self.scale * (values[2:] - values[0]), None, base_value=values[0],
                                 full_value=values[1], estimated=False)
'''


@pytest.fixture
def plugin_module(tmp_path):
    path = tmp_path / "my_estimators.py"
    path.write_text(textwrap.dedent(PLUGIN))
    spec = importlib.util.spec_from_file_location("my_estimators", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    unregister_estimator("qe-test-leave-one-in")


def test_an_estimator_from_another_file_works_everywhere(plugin_module):
    name = "qe-test-leave-one-in"
    assert name in list_estimators() and ESTIMATORS[name] is plugin_module.LeaveOneIn
    assert name in list_methods(1, "game") and name in list_methods(1, "side")
    assert name not in list_methods(2, "game") and name not in list_methods(2, "joint")
    assert resolve_method(name, order=1, kind="side", n_players=50, budget=None) == (name, 1024)
    w = np.arange(1.0, 6.0)
    res = explain_game(lambda z: z @ w, 5, method=name, scale=2.0)
    np.testing.assert_allclose(res.values, 2 * w)
    assert res.method == name and res.n_evaluations == 7
    assert get_estimator(name, scale=3.0).get_params() == {"order": 1, "scale": 3.0}
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['alpha'\]; it accepts \['scale'\]"):
        get_estimator(name, alpha=1)
    with pytest.raises(ValueError, match=r"supports order in \(1\); got order=2"):
        explain_game(lambda z: z @ w, 5, method=name, order=2)


def test_gone_after_unregister(plugin_module):
    unregister_estimator("qe-test-leave-one-in")
    assert "qe-test-leave-one-in" not in list_estimators()
    with pytest.raises(ValueError, match=r"Unknown method='qe-test-leave-one-in'"):
        explain_game(lambda z: z.sum(axis=1), 3, method="qe-test-leave-one-in")
    from qdrant_explain.explainers.estimators.base import register_estimator

    register_estimator(plugin_module.LeaveOneIn)  # so the fixture's teardown finds it again


def test_subclasses_without_their_own_name_are_not_registered():
    before = dict(registered_estimators("game"))

    class Tuned(KernelSHAP):
        pass

    class Abstract(Estimator, register=False):
        name = "qe-test-abstract"

    assert dict(registered_estimators("game")) == before
    assert get_estimator("kernel-shap").__class__ is KernelSHAP
    assert "qe-test-abstract" not in list_estimators()


@pytest.mark.parametrize(
    "attrs,pattern",
    [
        (dict(name="Bad Name"), r"kebab-case method string.*got 'Bad Name'"),
        (dict(name="auto"), r"\(not 'auto'\); got 'auto'"),
        (dict(name="qe-test-x", orders=(3,)), r"orders must be a non-empty tuple of 1 and/or 2; got \(3,\)"),
        (dict(name="qe-test-x", orders=()), r"orders must be a non-empty tuple"),
        (dict(name="qe-test-x", kinds=("image",)), r"kinds must be a non-empty tuple from \('game', 'side', 'joint'\)"),
        (dict(name="qe-test-x", orders=(2,), kinds=("side",)), r"no declared kind \('side',\) has a declared order"),
        (dict(name="kernel-shap"), r"'kernel-shap' \(game\) is taken by .*KernelSHAP"),
    ],
)
def test_bad_declarations_fail_at_definition(attrs, pattern):
    with pytest.raises(ValueError, match=pattern):
        type("Bad", (Estimator,), dict(attrs))
    assert "qe-test-x" not in list_estimators()
    assert registered_estimators("game")["kernel-shap"] is KernelSHAP


def test_redefining_the_same_class_replaces_it():
    def define(scale):
        class Again(Estimator):
            name = "qe-test-again"
            factor = scale

        return Again

    first, second = define(1), define(2)
    try:
        assert registered_estimators("game")["qe-test-again"] is second is not first
    finally:
        unregister_estimator("qe-test-again")


def test_unregister_unknown_name():
    with pytest.raises(ValueError, match=r"no estimator named 'nope' is registered"):
        unregister_estimator("nope")


def test_joint_estimators_are_not_games():
    est = get_estimator("stratified", order=2, kind="joint")
    assert isinstance(est, JointEstimator) and est.get_params() == {"order": 2, "control_variate": True, "unbiased": True}
    with pytest.raises(TypeError, match=r"joint estimator \(kind 'joint'\).*explain_joint"):
        est.plan(4, 100, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"Unknown method='stratified'"):
        explain_game(lambda z: z.sum(axis=1), 4, method="stratified")
    assert registered_estimators("joint")["exact"] is not registered_estimators("game")["exact"]
