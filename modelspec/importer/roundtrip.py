"""Checking an import: the spec builds the same Keras model again.

Three criteria, each reported separately: the same layer graph (layer types and who reads
whom, by position — Keras operations count as the layers that replace them), the same
weight shapes in the same order, and identical outputs after copying the weights.

Example:
>>> report = compare(keras_model, build_from_spec("resnet50.yaml"))
>>> report.ok
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelspec.importer.keras_graph import ImportGraph, identifier

_INPUT = "InputLayer"


@dataclass
class RoundTrip:
    """What a rebuilt model shares with the original."""

    same_graph: bool
    same_weights: bool
    max_difference: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.same_graph and self.same_weights and self.max_difference == 0.0


def layer_graph(model: Any) -> list[tuple[str, tuple[int, ...]]]:
    """(layer class, positions of the layers it reads) for each layer of a functional model."""
    layers = [layer for layer in model.layers if type(layer).__name__ != _INPUT]
    position = {id(layer): i for i, layer in enumerate(layers)}
    out = []
    for layer in layers:
        reads = []
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                source = tensor._keras_history[0]
                reads.append(position.get(id(source), -1))
        out.append((type(layer).__name__, tuple(reads)))
    return out


def imported_graph(graph: ImportGraph) -> list[tuple[str, tuple[int, ...]]]:
    """The same description for the importer's graph (its layers replace Keras ops; a
    shared layer is one layer whose reads are those of all its calls)."""
    layers = [n for n in graph.nodes if n.shares is None]
    position = {n.id: i for i, n in enumerate(layers)}
    for node in graph.nodes:
        if node.shares is not None:
            position[node.id] = position[node.shares]
    reads: list[list[int]] = [[] for _ in layers]
    for node in graph.nodes:
        found = [position.get(ref.node, -1) for ref in node.inputs]
        for value in node.call.values():  # tensors given to the call (initial_state=...)
            texts = value if isinstance(value, list) else [value]
            found += [position[t.split(".")[0]] for t in texts
                      if isinstance(t, str) and t.split(".")[0] in position]
        reads[position[node.id]] += found
    return [(node.type or ("Functional" if node.model else ""), tuple(r))
            for node, r in zip(layers, reads, strict=True)]


def compare(original: Any, rebuilt: Any, graph: ImportGraph | None = None,
            seed: int = 0) -> RoundTrip:
    """Compares a rebuilt model with the original after copying the original's weights."""
    expected = imported_graph(graph) if graph is not None else layer_graph(original)
    found = layer_graph(rebuilt)
    same_graph = expected == found
    shapes_a = [tuple(w.shape) for w in original.weights]
    shapes_b = [tuple(w.shape) for w in rebuilt.weights]
    same_weights = shapes_a == shapes_b
    if not same_weights:
        return RoundTrip(same_graph, False, float("inf"),
                         f"{len(shapes_a)} weights vs {len(shapes_b)}")
    rebuilt.set_weights(original.get_weights())
    original = getattr(original, "_functional", None) or original  # a Sequential's graph
    arrays = _example_inputs(original, seed)
    given: Any
    if isinstance(original.input, dict):
        given = {key: arrays[_layer_name(t)] for key, t in original.input.items()}
    else:
        given = [arrays[_layer_name(t)] for t in original.inputs]
        given = given if len(given) > 1 else given[0]
    out_a = _as_list(original(given, training=False))
    out_b = _as_list(rebuilt({identifier(k): v for k, v in arrays.items()}, training=False))
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(out_a, out_b, strict=True))
    return RoundTrip(same_graph, True, diff)


def _layer_name(tensor: Any) -> str:
    return tensor._keras_history[0].name


def _example_inputs(model: Any, seed: int) -> dict:
    """Random inputs, keyed by input layer name (None dimensions: 64)."""
    rng = np.random.default_rng(seed)
    out = {}
    for tensor in model.inputs:
        shape = [2] + [d or 64 for d in tensor.shape[1:]]
        if "int" in str(tensor.dtype):  # indices (embeddings): small non-negative integers
            out[_layer_name(tensor)] = rng.integers(0, 2, shape).astype(tensor.dtype)
        else:
            out[_layer_name(tensor)] = rng.uniform(0, 1, shape).astype(tensor.dtype)
    return out


def _as_list(outputs: Any) -> list:
    if isinstance(outputs, dict):
        return [outputs[k] for k in outputs]
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
