"""Bit-accurate NumPy emulator of the generated firmware.

Built from the hls4ml ModelGraph (the layers, types and weights that are written into the project), it runs the
firmware's integer arithmetic on raw values — every cast with its rounding and saturation mode, every
accumulator, every table index — vectorised over events, in chunks spread over threads. Each layer's arithmetic
is its op's (models/ops/*: `run`), chosen through the op registry. Raws are carried as integer-valued
float32/float64 wherever the types prove that exact (BLAS products, few-pass kernels), else int64. It never calls
the compiled C++.

A plan is plain data (`Emulator.save` / `Emulator.load`), so a project folder can be re-emulated without TensorFlow
or hls4ml.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigformer.models.fixed import FixedType
from trigformer.models.ops import BY_KIND, Node, for_hls

MIN_CHUNK, MAX_CHUNK = 64, 1024  # events per pass


@dataclass(frozen=True)
class EmulatorSettings:
    """How the emulator uses the process. The defaults change nothing outside the call; `tuned()` is what synth
    and the benchmark use.

    threads: worker threads over event chunks (None: one).
    blas_threads: BLAS threads inside each worker while the emulator runs (None: leave BLAS as it is). OpenBLAS
        threading each worker's products as well oversubscribes the cores (it cost a third of the time on 2 cores).
    keep_freed_memory: ask glibc (mallopt, once per process, not undone) to keep freed heap blocks for reuse.
        By default glibc hands blocks above its mmap threshold back to the kernel, so each multi-megabyte NumPy
        temporary is page-faulted afresh: about a quarter of the emulator's time on our 2-core VM (`make bench`
        measures both ways). The process then keeps its peak heap (tens of MB per core for the default example).
    """

    threads: int | None = None
    blas_threads: int | None = None
    keep_freed_memory: bool = False

    @classmethod
    def tuned(cls) -> EmulatorSettings:
        return cls(threads=usable_cores(), blas_threads=1, keep_freed_memory=True)


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process (see EmulatorSettings); True if in effect.
    With another C library nothing is done."""
    global _MALLOPT_DONE
    if _MALLOPT_DONE is None:
        _MALLOPT_DONE = False
        name = ctypes.util.find_library("c")
        if name and name.startswith("libc.so"):
            try:
                libc = ctypes.CDLL(name)
                M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
                _MALLOPT_DONE = bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(
                    libc.mallopt(M_TRIM_THRESHOLD, 512 << 20))
            except (OSError, AttributeError):
                pass
    return _MALLOPT_DONE


_MALLOPT_DONE: bool | None = None


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Emulator:
    def __init__(self, nodes: list[Node], settings: EmulatorSettings = EmulatorSettings()):
        self.nodes = nodes
        self.settings = settings

    # ---- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_hls_model(cls, hls_model, keras_model, settings: EmulatorSettings = EmulatorSettings()) -> Emulator:
        """Read layers, types and weights from the hls4ml graph (dense weights from the snapped Keras model)."""
        nodes: list[Node] = []
        for layer in _inputs_first(hls_model):
            op = for_hls(layer)
            out_t = FixedType.parse(layer.get_output_variable().type.precision.definition_cpp())
            spec, arrays = op.params(layer, keras_model)
            inputs = [] if op.kind == "input" else list(layer.inputs)
            nodes.append(Node(layer.name, op.kind, inputs, out_t, spec, arrays,
                              int(layer.get_output_variable().size())))
        return cls(nodes, settings)

    # ---- execution ------------------------------------------------------------------------------------------------
    @property
    def input_names(self) -> list[str]:
        """The model's inputs, in the order of the top function's arguments (and of `run`'s list)."""
        return [n.name for n in self.nodes if n.kind == "input"]

    def run(self, x, trace: bool = False):
        """x: float inputs [events, ...], or one such array per model input (a list, in `input_names` order).
        Returns raw int64 outputs (and {layer: raw int64} when trace=True)."""
        x = as_inputs(x, len(self.input_names))
        st = self.settings
        if st.keep_freed_memory:
            keep_freed_memory()
        if trace:
            vals = self._run_chunk(x)
            return vals[self.nodes[-1].name].astype(np.int64), {k: v.astype(np.int64) for k, v in vals.items()}
        # chunks of events keep the intermediates in cache (the kernels are chains of element-wise passes), and
        # run on the worker threads: NumPy releases the GIL inside its loops
        n = len(x[0])
        if n == 0:
            return np.zeros((0, 0), np.int64)
        workers = st.threads or 1
        chunk = max(MIN_CHUNK, min(MAX_CHUNK, -(-n // workers)))  # an even share per worker, cache-sized
        starts = range(0, n, chunk)
        last = self.nodes[-1].name
        workers = min(len(starts), workers)
        limit = nullcontext()
        if st.blas_threads is not None:
            from threadpoolctl import threadpool_limits

            limit = threadpool_limits(st.blas_threads, user_api="blas")
        with limit, ThreadPoolExecutor(max_workers=workers) as pool:
            parts = pool.map(lambda i: self._run_chunk([a[i:i + chunk] for a in x])[last].astype(np.int64), starts)
            return np.concatenate(list(parts))

    def _run_chunk(self, x: list[np.ndarray]) -> dict[str, np.ndarray]:
        vals: dict[str, np.ndarray] = {}
        types: dict[str, FixedType] = {}
        feed = iter(x)
        for node in self.nodes:
            ins = [next(feed)] if node.kind == "input" else [vals[i] for i in node.inputs]
            in_t = [types[i] for i in node.inputs]
            vals[node.name] = BY_KIND[node.kind].run(node, ins, in_t)
            types[node.name] = node.out_t
        return vals

    def predict(self, x) -> np.ndarray:
        """Float values of the firmware outputs."""
        return self.output_type.to_float(self.run(x))

    @property
    def output_type(self) -> FixedType:
        return self.nodes[-1].out_t

    def types(self) -> dict[str, FixedType]:
        return {n.name: n.out_t for n in self.nodes}

    # ---- persistence ----------------------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        meta = [{"name": n.name, "kind": n.kind, "inputs": n.inputs, "out_t": n.out_t.ap_type, "size": n.size,
                 "spec": n.spec.to_attrs() if n.spec is not None else None, "arrays": sorted(n.arrays)}
                for n in self.nodes]
        arrays = {f"{n.name}/{k}": v for n in self.nodes for k, v in n.arrays.items()}
        path = Path(path)
        np.savez(path.with_suffix(".npz"), **arrays)
        path.with_suffix(".json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, path: Path, settings: EmulatorSettings = EmulatorSettings()) -> Emulator:
        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        nodes = []
        with np.load(path.with_suffix(".npz")) as z:
            for m in meta:
                spec_cls = BY_KIND[m["kind"]].spec_class
                spec = spec_cls.from_attrs(m["spec"]) if m["spec"] is not None else None
                nodes.append(Node(m["name"], m["kind"], m["inputs"], FixedType.parse(m["out_t"]), spec,
                                  {k: z[f"{m['name']}/{k}"] for k in m["arrays"]}, int(m.get("size", 0))))
        return cls(nodes, settings)


def as_inputs(x, n_inputs: int = 1) -> list[np.ndarray]:
    """One array per model input: a single-input model takes an array (or a one-element list), a multi-input model
    a list or tuple of arrays with the same number of events."""
    xs = [np.asarray(a) for a in x] if isinstance(x, (list, tuple)) else [np.asarray(x)]
    if len(xs) != n_inputs:
        raise ValueError(f"the model has {n_inputs} input(s), got {len(xs)} array(s)")
    if len({len(a) for a in xs}) > 1:
        raise ValueError(f"the input arrays hold different numbers of events: {[len(a) for a in xs]}")
    return xs


def _inputs_first(hls_model) -> list:
    """The graph's layers with the input layers first, in the order of the model's inputs (the top function's
    arguments); every other layer keeps its (dataflow) order."""
    layers = list(hls_model.get_layers())
    by_name = {layer.name: layer for layer in layers}
    inputs = [by_name[name] for name in hls_model.inputs]
    return inputs + [layer for layer in layers if layer.name not in hls_model.inputs]


def attention_scores(emu: Emulator, x) -> list[tuple[np.ndarray, np.ndarray]]:
    """(float scores, float LUT-softmax probabilities) of every attention layer, for softmax diagnostics."""
    _, vals = emu.run(x, trace=True)
    out = []
    for node in emu.nodes:
        if node.kind == "mha":
            sp = node.spec
            s, prob, _ = sp.attention(vals[node.inputs[0]], node.arrays,
                                      vals[node.inputs[1]] if len(node.inputs) > 1 else None)
            scores = sp.dot_t.to_float(s) * sp.softmax.in_scale  # the scaled scores the softmax sees
            out.append((scores.swapaxes(-1, -2), sp.prob_t.to_float(prob).swapaxes(-1, -2)))
    return out
