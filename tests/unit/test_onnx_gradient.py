"""The policy graph in numpy (services/inference/dosewise_inference/onnx_gradient.py): its Q-values are onnxruntime's, its
gradient is the derivative of those Q-values, integrated gradients built on it keep completeness, and a graph it cannot
evaluate faithfully falls back to finite differences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from dosewise.therapies.insulin_t2d.pack import InsulinT2DPack
from dosewise.therapies.warfarin.pack import WarfarinPack
from dosewise_inference import explain
from dosewise_inference.onnx_gradient import GraphGradient, load_gradient
from dosewise_trainer.algorithms import dqn
from dosewise_trainer.export import export_untrained, load_onnx_session
from tests.unit.test_dqn import TINY

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(REPO.glob("policies/*/dqn-*/policy.onnx"))


def _session(path: Path) -> ort.InferenceSession:
    return load_onnx_session(path)


# A trained network besides the untrained exports, whether or not one ships (none does while the packs' visit-level
# networks have not passed the gate): a few thousand DQN steps move the weights off their initialization, as training does.
TRAINED = {**TINY, "therapy": "warfarin"}


@pytest.fixture(scope="module",
                params=["untrained-warfarin", "untrained-insulin", "trained-warfarin",
                        *[p.parent.parent.name for p in SHIPPED]])
def policy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ort.InferenceSession]:
    name = request.param
    if name == "untrained-warfarin":
        path = export_untrained(WarfarinPack(), tmp_path_factory.mktemp("w"), seed=3)
    elif name == "trained-warfarin":
        out = tmp_path_factory.mktemp("t")
        dqn.train(dqn.Args(**TRAINED, out_dir=str(out)), pack=WarfarinPack())
        path = out / "policy.onnx"
    elif name == "untrained-insulin":
        path = export_untrained(InsulinT2DPack(), tmp_path_factory.mktemp("i"), seed=4)
    else:
        path = next(p for p in SHIPPED if p.parent.parent.name == name)
    return path, _session(path)


def _rows(session: ort.InferenceSession, n: int, seed: int) -> np.ndarray:
    f = session.get_inputs()[0].shape[1]
    return np.random.default_rng(seed).normal(0.0, 3.0, size=(n, f))


def test_q_values_equal_onnxruntimes(policy: tuple[Path, ort.InferenceSession]) -> None:
    path, session = policy
    graph = load_gradient(path, session, session.get_inputs()[0].shape[1])
    assert graph is not None
    x = _rows(session, 40, seed=7)
    ours = graph.forward(x)
    q, heads = session.run(["q_values", "q_heads"], {"features": x.astype(np.float32)})
    np.testing.assert_allclose(ours["q_values"], q, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours["q_heads"], heads, rtol=1e-4, atol=1e-4)


def test_gradient_is_the_derivative_of_the_served_q(policy: tuple[Path, ort.InferenceSession]) -> None:
    path, session = policy
    graph = GraphGradient.from_onnx(path)
    assert graph is not None
    x = _rows(session, 6, seed=8)
    actions = np.arange(6) % graph.q_values(x[:1]).shape[1]
    grad = graph.action_gradient(x, actions)
    eps = 1e-6
    for j in range(x.shape[1]):  # central differences of the float64 forward: the chain rule is exact
        e = np.zeros(x.shape[1])
        e[j] = eps
        numeric = (graph.q_values(x + e) - graph.q_values(x - e))[np.arange(6), actions] / (2 * eps)
        np.testing.assert_allclose(grad[:, j], numeric, rtol=1e-5, atol=1e-6)
    # and onnxruntime's own float32 model moves the same way (a step small enough to stay in one ReLU region mostly)
    h = 1e-2
    ort_fd = np.stack([(session.run(["q_values"], {"features": (x + h * np.eye(x.shape[1])[j]).astype(np.float32)})[0]
                        - session.run(["q_values"], {"features": x.astype(np.float32)})[0])[np.arange(6), actions] / h
                       for j in range(x.shape[1])], axis=1)
    assert np.median(np.abs(ort_fd - grad)) < 1e-2 * max(1.0, float(np.abs(grad).max()))


def test_integrated_gradients_on_exact_gradients_keep_completeness_and_agree_with_finite_differences(
        policy: tuple[Path, ort.InferenceSession]) -> None:
    path, session = policy
    graph = load_gradient(path, session, session.get_inputs()[0].shape[1])
    assert graph is not None
    q_fn = explain.as_q_fn(session)
    x = _rows(session, 5, seed=9)
    base = _rows(session, 1, seed=10)[0]
    actions = np.array([0, 1, 2, 3, 4])
    scales = np.ones(x.shape[1])
    exact = explain.integrated_gradients_many(q_fn, x, base, actions, scales, grad_fn=graph.action_gradient)
    finite = explain.integrated_gradients_many(q_fn, x, base, actions, scales)
    # The same 16-point Riemann sum: only the gradient estimate differs.
    np.testing.assert_allclose(exact, finite, rtol=0.05, atol=0.05 * float(np.abs(finite).max()))
    # Completeness up to the Riemann sum's error, which vanishes as the path is cut finer (these random rows lie far
    # from the baseline, across many ReLU kinks; tests/unit/test_explain.py checks 16 steps on realistic patients).
    gap = q_fn(x.astype(np.float32))[np.arange(5), actions] - q_fn(base[None].astype(np.float32))[0, actions]
    fine = explain.integrated_gradients_many(q_fn, x, base, actions, scales, steps=1024, grad_fn=graph.action_gradient)
    np.testing.assert_allclose(fine.sum(axis=1), gap, rtol=0.005, atol=0.01)


def test_a_served_policy_explains_with_exact_gradients(policy: tuple[Path, ort.InferenceSession]) -> None:
    path, session = policy

    class Served:  # what explain.as_grad_fn reads from the inference service's LoadedPolicy
        gradient = load_gradient(path, session, session.get_inputs()[0].shape[1])

    assert explain.as_grad_fn(Served()) is not None
    assert explain.as_grad_fn(session) is None  # a bare onnxruntime session: finite differences


def test_a_graph_with_an_op_it_cannot_differentiate_gets_none(tmp_path: Path) -> None:
    node = helper.make_node("Tanh", ["features"], ["q_values"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("q_values", TensorProto.FLOAT, [None, 3])])
    path = tmp_path / "tanh.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert GraphGradient.from_onnx(path) is None
    assert load_gradient(path, _session(path), 3) is None


def test_a_graph_whose_numpy_evaluation_differs_from_onnxruntime_is_not_used(tmp_path: Path) -> None:
    a = export_untrained(WarfarinPack(), tmp_path / "a", seed=1)
    b = export_untrained(WarfarinPack(), tmp_path / "b", seed=2)
    assert load_gradient(a, _session(b), WarfarinPack().n_features) is None  # another model's session: Q differs
    assert load_gradient(a, _session(a), WarfarinPack().n_features) is not None


def test_the_other_ops_it_admits_are_evaluated_and_differentiated_exactly(tmp_path: Path) -> None:
    """MatMul, Mul, Identity, Reshape with 0 and −1, and ReduceMean without keepdims (none of them in our exports today)."""
    rng = np.random.default_rng(12)
    w = rng.normal(size=(3, 4)).astype(np.float32)
    c = rng.normal(size=(4,)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["features", "w"], ["h"]),
        helper.make_node("Mul", ["h", "c"], ["hc"]),
        helper.make_node("Identity", ["hc"], ["hi"]),
        helper.make_node("Relu", ["hi"], ["hr"]),
        helper.make_node("Reshape", ["hr", "shape"], ["h3"]),
        helper.make_node("ReduceMean", ["h3"], ["q_values"], axes=[1], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("q_values", TensorProto.FLOAT, [None, 2])],
        initializer=[onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(c, "c"),
                     onnx.numpy_helper.from_array(np.array([0, -1, 2], dtype=np.int64), "shape")])
    path = tmp_path / "ops.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    g = load_gradient(path, _session(path), 3)
    assert g is not None
    x = rng.normal(size=(7, 3))
    actions = np.arange(7) % 2
    grad = g.action_gradient(x, actions)
    eps = 1e-6
    for j in range(3):
        e = np.zeros(3)
        e[j] = eps
        numeric = (g.q_values(x + e) - g.q_values(x - e))[np.arange(7), actions] / (2 * eps)
        np.testing.assert_allclose(grad[:, j], numeric, rtol=1e-6, atol=1e-8)
