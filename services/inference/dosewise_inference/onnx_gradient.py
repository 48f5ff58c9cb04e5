"""Exact input gradients of an exported Q-network: its ONNX graph evaluated in numpy (float64), forward and reverse mode.

Integrated gradients need ∂Q(x, a)/∂x at every path point. Forward finite differences against onnxruntime need F + 1
model rows per point (27 for warfarin, 432 rows a patient at 16 path points) and are only as exact as the float32 step
allows; the chain rule through the graph's own weights needs one forward and one backward pass per point. The op set is
what torch.onnx makes of our dueling ensemble MLP (Sub, Div, Gemm, Relu, Reshape, Slice, Add, ReduceMean, Constant) plus a
few of the same kind; a graph with any other op gets no ``GraphGradient`` and explanations keep the finite differences.
Q-values served are onnxruntime's, always: this module only differentiates, and ``load_gradient`` checks its forward pass
against onnxruntime on probe inputs before it is used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("dosewise.inference")

SUPPORTED_OPS = frozenset({"Constant", "Identity", "Add", "Sub", "Mul", "Div", "Gemm", "MatMul", "Relu", "Reshape", "Slice",
                           "ReduceMean"})
PROBE_ROWS = 16
PROBE_RTOL, PROBE_ATOL = 1e-3, 1e-3  # float32 onnxruntime vs float64 numpy


@dataclass(frozen=True)
class _Node:
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Any]


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient of a broadcast result back to the operand's shape."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def _reshape_target(x: np.ndarray, shape: np.ndarray) -> tuple[int, ...]:
    """ONNX Reshape's shape: 0 copies the input's dimension (allowzero = 0), −1 is inferred."""
    return tuple(int(x.shape[i]) if int(s) == 0 else int(s) for i, s in enumerate(shape))


def _slices(x: np.ndarray, starts: np.ndarray, ends: np.ndarray, axes: np.ndarray | None,
            steps: np.ndarray | None) -> tuple[slice, ...]:
    index = [slice(None)] * x.ndim
    axes = np.arange(len(starts)) if axes is None else axes
    steps = np.ones(len(starts), dtype=np.int64) if steps is None else steps
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        index[int(a) % x.ndim] = slice(int(s), int(e), int(st))  # Python clamps out-of-range bounds as ONNX does
    return tuple(index)


def _mean_axes(node: _Node, x: np.ndarray, values: dict[str, np.ndarray]) -> tuple[tuple[int, ...], bool]:
    axes = node.attrs.get("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:  # opset ≥ 18: axes as an input
        axes = values[node.inputs[1]]
    keep = bool(node.attrs.get("keepdims", 1))
    if axes is None or len(axes) == 0:
        return tuple(range(x.ndim)), keep
    return tuple(int(a) % x.ndim for a in axes), keep


class GraphGradient:
    """The graph of one ``policy.onnx`` in numpy: ``q_values`` and the gradient of one action's Q per row."""

    def __init__(self, nodes: list[_Node], constants: dict[str, np.ndarray], input_name: str) -> None:
        self.nodes, self.constants, self.input_name = nodes, constants, input_name

    @classmethod
    def from_onnx(cls, path: Path | str) -> GraphGradient | None:
        """The graph, or None when it holds an op this module cannot differentiate (or the ``onnx`` package is absent)."""
        try:
            import onnx
            from onnx import numpy_helper
        except ImportError:
            return None
        model = onnx.load(str(path))
        graph = model.graph
        unsupported = {n.op_type for n in graph.node} - SUPPORTED_OPS
        if unsupported:
            log.info("explanations use finite differences", extra={"unsupported_ops": sorted(unsupported)})
            return None

        def array(tensor: Any) -> np.ndarray:
            value = numpy_helper.to_array(tensor)
            return value.astype(np.float64) if value.dtype.kind == "f" else value

        constants = {t.name: array(t) for t in graph.initializer}
        nodes = []
        for n in graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            if n.op_type == "Constant":
                if "value" not in attrs:
                    return None
                constants[n.output[0]] = array(attrs["value"])
                continue
            nodes.append(_Node(n.op_type, tuple(n.input), tuple(n.output), attrs))
        inputs = [i.name for i in graph.input if i.name not in constants]
        if len(inputs) != 1:
            return None
        return cls(nodes, constants, inputs[0])

    # --- forward -------------------------------------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every value of the graph for input rows ``x`` (float64)."""
        values: dict[str, np.ndarray] = dict(self.constants)
        values[self.input_name] = np.asarray(x, dtype=np.float64)
        for node in self.nodes:
            args = [values[i] if i else None for i in node.inputs]
            values[node.outputs[0]] = self._eval(node, args, values)
        return values

    @staticmethod
    def _eval(node: _Node, a: list[Any], values: dict[str, np.ndarray]) -> np.ndarray:
        op = node.op
        if op == "Identity":
            return a[0]
        if op == "Add":
            return a[0] + a[1]
        if op == "Sub":
            return a[0] - a[1]
        if op == "Mul":
            return a[0] * a[1]
        if op == "Div":
            return a[0] / a[1]
        if op == "Relu":
            return np.maximum(a[0], 0.0)
        if op == "MatMul":
            return a[0] @ a[1]
        if op == "Gemm":
            at = a[0].T if node.attrs.get("transA", 0) else a[0]
            bt = a[1].T if node.attrs.get("transB", 0) else a[1]
            y = node.attrs.get("alpha", 1.0) * (at @ bt)
            return y + node.attrs.get("beta", 1.0) * a[2] if len(a) > 2 and a[2] is not None else y
        if op == "Reshape":
            return a[0].reshape(_reshape_target(a[0], a[1]))
        if op == "Slice":
            return a[0][_slices(a[0], a[1], a[2], a[3] if len(a) > 3 else None, a[4] if len(a) > 4 else None)]
        if op == "ReduceMean":
            axes, keep = _mean_axes(node, a[0], values)
            return a[0].mean(axis=axes, keepdims=keep)
        raise ValueError(f"unsupported op {op}")  # from_onnx admits only SUPPORTED_OPS

    # --- reverse -------------------------------------------------------------------------------------------------------
    def _backward(self, values: dict[str, np.ndarray], output: str, cotangent: np.ndarray) -> np.ndarray:
        """∂⟨cotangent, output⟩/∂input per row at the point ``values`` came from: the vector–Jacobian product."""
        grads: dict[str, np.ndarray] = {output: np.asarray(cotangent, dtype=np.float64)}
        for node in reversed(self.nodes):
            g = grads.pop(node.outputs[0], None)
            if g is None:
                continue
            for name, gi in self._vjp(node, g, values):
                if name in self.constants:
                    continue
                grads[name] = grads[name] + gi if name in grads else gi
        return grads.get(self.input_name, np.zeros_like(values[self.input_name]))

    @staticmethod
    def _vjp(node: _Node, g: np.ndarray, values: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        op, ins = node.op, node.inputs
        a = [values[i] if i else None for i in ins]
        if op == "Identity":
            return [(ins[0], g)]
        if op == "Add":
            return [(ins[0], _unbroadcast(g, a[0].shape)), (ins[1], _unbroadcast(g, a[1].shape))]
        if op == "Sub":
            return [(ins[0], _unbroadcast(g, a[0].shape)), (ins[1], _unbroadcast(-g, a[1].shape))]
        if op == "Mul":
            return [(ins[0], _unbroadcast(g * a[1], a[0].shape)), (ins[1], _unbroadcast(g * a[0], a[1].shape))]
        if op == "Div":
            return [(ins[0], _unbroadcast(g / a[1], a[0].shape)),
                    (ins[1], _unbroadcast(-g * a[0] / a[1] ** 2, a[1].shape))]
        if op == "Relu":
            return [(ins[0], g * (a[0] > 0.0))]
        if op == "MatMul":
            return [(ins[0], _unbroadcast(g @ np.swapaxes(a[1], -1, -2), a[0].shape)),
                    (ins[1], _unbroadcast(np.swapaxes(a[0], -1, -2) @ g, a[1].shape))]
        if op == "Gemm":
            alpha = node.attrs.get("alpha", 1.0)
            ta, tb = node.attrs.get("transA", 0), node.attrs.get("transB", 0)
            at = a[0].T if ta else a[0]
            bt = a[1].T if tb else a[1]
            ga, gb = alpha * (g @ bt.T), alpha * (at.T @ g)
            out = [(ins[0], ga.T if ta else ga), (ins[1], gb.T if tb else gb)]
            if len(ins) > 2 and ins[2]:
                out.append((ins[2], _unbroadcast(node.attrs.get("beta", 1.0) * g, a[2].shape)))
            return out
        if op == "Reshape":
            return [(ins[0], g.reshape(a[0].shape))]
        if op == "Slice":
            full = np.zeros_like(a[0], dtype=np.float64)
            full[_slices(a[0], a[1], a[2], a[3] if len(a) > 3 else None, a[4] if len(a) > 4 else None)] = g
            return [(ins[0], full)]
        if op == "ReduceMean":
            axes, keep = _mean_axes(node, a[0], values)
            if not keep:
                g = np.expand_dims(g, axes)
            count = int(np.prod([a[0].shape[i] for i in axes]))
            return [(ins[0], np.broadcast_to(g, a[0].shape) / count)]
        raise ValueError(f"unsupported op {op}")

    # --- what explanations use -----------------------------------------------------------------------------------------
    def q_values(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)["q_values"]

    def action_gradient(self, x: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """∂Q(x_i, actions_i)/∂x_i for each row (rows, features), Q the ensemble mean the policy serves."""
        values = self.forward(np.atleast_2d(x))
        cot = np.zeros_like(values["q_values"])
        cot[np.arange(cot.shape[0]), np.asarray(actions, dtype=int)] = 1.0
        return self._backward(values, "q_values", cot)


GradFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def load_gradient(path: Path | str, session: Any, n_features: int, seed: int = 0) -> GraphGradient | None:
    """``GraphGradient.from_onnx``, kept only if its Q-values equal onnxruntime's on random probe rows (within float32
    rounding); otherwise None, and explanations use finite differences against onnxruntime."""
    graph = GraphGradient.from_onnx(path)
    if graph is None:
        return None
    probes = np.random.default_rng(seed).normal(0.0, 3.0, size=(PROBE_ROWS, n_features)).astype(np.float32)
    try:
        ours = graph.q_values(probes)
        theirs = session.run(["q_values"], {"features": probes})[0]
    except (ValueError, KeyError, IndexError) as e:
        log.warning("numpy evaluation of the policy graph failed; explanations use finite differences",
                    extra={"error": type(e).__name__})
        return None
    if ours.shape != theirs.shape or not np.allclose(ours, theirs, rtol=PROBE_RTOL, atol=PROBE_ATOL):
        log.warning("numpy evaluation of the policy graph differs from onnxruntime; explanations use finite differences")
        return None
    return graph
