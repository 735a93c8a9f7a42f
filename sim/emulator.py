"""Bit-accurate NumPy emulator of the generated firmware.

Built from the hls4ml ModelGraph (the layers, types and weights that are written into the project), it runs the
firmware's integer arithmetic on raw values — every cast with its rounding and saturation mode, every
accumulator, every table index — vectorised over events, in chunks spread over threads. Raws are carried as
integer-valued float32/float64 wherever the types prove that exact (BLAS products, few-pass kernels), else int64.
It never calls the compiled C++.

A plan is plain data (`Emulator.save` / `Emulator.load`), so a project folder can be re-emulated without TensorFlow
or hls4ml.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from models.fixed import FixedType
from models.numerics import LayerNormSpec, PoolSpec, ScaleSpec, SoftmaxSpec, ceil_log2, dot_accum_t, float_for


MIN_CHUNK, MAX_CHUNK = 64, 1024  # events per pass


def keep_freed_memory() -> bool:
    """Ask glibc, once per process, to keep freed heap blocks for reuse (mallopt); True if that is in effect.

    By default glibc hands blocks above its mmap threshold back to the kernel when they are freed, and trims the
    heap top, so each of the emulator's multi-megabyte NumPy temporaries is page-faulted afresh. On our 2-core VM
    that was about a quarter of the emulator's time (`make bench` measures both ways). Raising the two thresholds makes
    later blocks reuse pages already mapped; the cost is that the process keeps its peak heap (tens of MB per core
    for the default example). With another C library nothing is done. TRIGFORMER_NO_MALLOPT=1 leaves the
    allocator alone (checked at each call until the thresholds have been set)."""
    global _MALLOPT_DONE
    if _MALLOPT_DONE or os.environ.get("TRIGFORMER_NO_MALLOPT") == "1":
        return bool(_MALLOPT_DONE)
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


@dataclass
class Op:
    name: str
    kind: str  # input | cast | relu | dense | add | mha | layernorm | pool | softmax
    inputs: list[str]
    out_t: FixedType
    params: dict = field(default_factory=dict)  # json-able scalars and type strings
    arrays: dict = field(default_factory=dict)  # raw int64 weights


def _t(p) -> FixedType:
    return FixedType.parse(p.definition_cpp() if hasattr(p, "definition_cpp") else str(p))


def _raw(values, t: FixedType) -> np.ndarray:
    q = t.quantize(np.asarray(values, dtype=np.float64))
    if not np.array_equal(t.to_float(q), np.asarray(values, dtype=np.float64)):
        raise ValueError(f"weights are not on the {t} grid: snap them before conversion")
    return q


class Emulator:
    def __init__(self, ops: list[Op]):
        self.ops = ops

    # ---- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_hls_model(cls, hls_model, keras_model) -> Emulator:
        """Read layers and types from the hls4ml graph; dense weights from the (snapped) Keras model by name,
        because hls4ml's resource strategy stores some of them transposed."""
        from hls_templates.extension import mha_types  # the MHA's internal types, shared with its config struct

        ops: list[Op] = []
        for layer in hls_model.get_layers():
            cls_name = layer.class_name
            out_t = _t(layer.get_output_variable().type.precision)
            inputs = list(layer.inputs) if cls_name != "Input" else []
            if cls_name == "Input":
                ops.append(Op(layer.name, "input", [], out_t))
            elif cls_name == "Activation":
                act = layer.get_attr("activation")
                if act not in ("linear", "relu"):
                    raise NotImplementedError(f"emulator: activation {act} ({layer.name})")
                ops.append(Op(layer.name, "cast" if act == "linear" else "relu", inputs, out_t))
            elif cls_name in ("Dense", "PointwiseConv1D"):
                kl = keras_model.get_layer(layer.name)
                w_t, b_t = _t(layer.types["weight_t"].precision), _t(layer.types["bias_t"].precision)
                kernel, bias = kl.get_weights()
                ops.append(Op(layer.name, "dense", inputs, out_t,
                              {"weight_t": w_t.ap_type, "bias_t": b_t.ap_type,
                               "accum_t": layer.types["accum_t"].precision.definition_cpp()},
                              {"w": _raw(kernel.reshape(kernel.shape[-2], kernel.shape[-1]), w_t), "b": _raw(bias, b_t)}))
            elif cls_name == "Merge":
                if layer.get_attr("op") != "add":
                    raise NotImplementedError(f"emulator: merge op {layer.get_attr('op')}")
                ops.append(Op(layer.name, "add", inputs, out_t))
            elif cls_name == "TFMultiHeadAttention":
                types = {k: v.ap_type for k, v in mha_types(layer).items()}
                w_t = _t(layer.get_attr("weight_type"))
                arrays = {k: _raw(layer.get_weights(k).data, w_t)
                          for k in (f"{a}_{b}" for a in "qkvo" for b in ("kernel", "bias"))}
                sm = layer.softmax_spec()
                params = {**types, "num_heads": layer.get_attr("num_heads"), "key_dim": layer.get_attr("key_dim"),
                          "scale_bits": layer.get_attr("scale_bits"), **_softmax_params(sm)}
                ops.append(Op(layer.name, "mha", inputs, out_t, params, arrays))
            elif cls_name == "TFLayerNorm":
                sp = layer.spec()
                g_t = _t(layer.get_attr("gamma_type"))
                ops.append(Op(layer.name, "layernorm", inputs, out_t,
                              {"in_t": sp.in_t.ap_type, "dim": sp.dim, "table_size": sp.table_size,
                               "table_bits": sp.table_bits, "epsilon": sp.epsilon, "gamma_t": g_t.ap_type},
                              {"gamma": _raw(layer.get_weights("gamma").data, g_t),
                               "beta": _raw(layer.get_weights("beta").data, g_t)}))
            elif cls_name == "TFTokenPooling":
                sp = layer.spec()
                ops.append(Op(layer.name, "pool", inputs, out_t,
                              {"in_t": sp.in_t.ap_type, "n": sp.n, "mode": sp.mode, "const_bits": sp.const_bits}))
            elif cls_name == "TFLUTSoftmax":
                ops.append(Op(layer.name, "softmax", inputs, out_t, _softmax_params(layer.softmax_spec())))
            else:
                raise NotImplementedError(f"emulator: hls4ml layer {cls_name} ({layer.name})")
        return cls(ops)

    # ---- execution ------------------------------------------------------------------------------------------------
    def run(self, x: np.ndarray, trace: bool = False, threads: int | None = None):
        """x: float inputs [events, ...]. Returns raw int64 outputs (and {layer: raw int64} when trace=True).
        `threads`: worker threads over event chunks (default: the cores this process may use).

        Internally raws are integer-valued float32 or float64 wherever every intermediate fits the mantissa
        (checked from the types, op by op), so matrix products use BLAS and casts are rint/floor/clip; elsewhere
        int64."""
        x = np.asarray(x)
        keep_freed_memory()
        if trace:
            vals = self._run_chunk(x)
            return vals[self.ops[-1].name].astype(np.int64), {k: v.astype(np.int64) for k, v in vals.items()}
        # chunks of events keep the intermediates in cache (the kernels are chains of element-wise passes), and
        # run on all cores: NumPy releases the GIL inside its loops
        if len(x) == 0:
            return np.zeros((0, 0), np.int64)
        workers = threads or usable_cores()
        chunk = max(MIN_CHUNK, min(MAX_CHUNK, -(-len(x) // workers)))  # an even share per core, cache-sized
        starts = range(0, len(x), chunk)
        last = self.ops[-1].name
        workers = min(len(starts), workers)
        # one BLAS thread per worker: OpenBLAS threading each worker's products as well oversubscribes the cores
        # (it cost a third of the time on 2 cores)
        with threadpool_limits(1 if workers > 1 else None, user_api="blas"), \
                ThreadPoolExecutor(max_workers=workers) as pool:
            parts = pool.map(lambda i: self._run_chunk(x[i:i + chunk])[last].astype(np.int64), starts)
            return np.concatenate(list(parts))

    def _run_chunk(self, x: np.ndarray) -> dict[str, np.ndarray]:
        vals: dict[str, np.ndarray] = {}
        types: dict[str, FixedType] = {}
        for op in self.ops:
            ins = [vals[i] for i in op.inputs]
            in_t = [types[i] for i in op.inputs]
            vals[op.name] = _KERNELS[op.kind](op, x if op.kind == "input" else ins, in_t)
            types[op.name] = op.out_t
        return vals

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float values of the firmware outputs."""
        return self.output_type.to_float(self.run(x))

    @property
    def output_type(self) -> FixedType:
        return self.ops[-1].out_t

    def types(self) -> dict[str, FixedType]:
        return {op.name: op.out_t for op in self.ops}

    # ---- persistence ----------------------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        meta = [{"name": o.name, "kind": o.kind, "inputs": o.inputs, "out_t": o.out_t.ap_type, "params": o.params,
                 "arrays": sorted(o.arrays)} for o in self.ops]
        arrays = {f"{o.name}/{k}": v for o in self.ops for k, v in o.arrays.items()}
        path = Path(path)
        np.savez(path.with_suffix(".npz"), **arrays)
        path.with_suffix(".json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, path: Path) -> Emulator:
        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        with np.load(path.with_suffix(".npz")) as z:
            return cls([Op(m["name"], m["kind"], m["inputs"], FixedType.parse(m["out_t"]), m["params"],
                           {k: z[f"{m['name']}/{k}"] for k in m["arrays"]}) for m in meta])


@functools.lru_cache(maxsize=None)
def _parse(ap_type: str) -> FixedType:
    return FixedType.parse(ap_type)


@functools.lru_cache(maxsize=None)
def _spec(cls, *args):
    """One spec object per distinct layer, so its tables (cached properties) are built once, not per call."""
    return cls(*args)


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _softmax_params(sp: SoftmaxSpec) -> dict:
    return {"sm_in_t": sp.in_t.ap_type, "sm_n": sp.n, "sm_table_size": sp.table_size,
            "sm_input_range": sp.input_range, "sm_table_bits": sp.table_bits, "sm_out_t": sp.out_t.ap_type}


def _softmax_spec(p: dict) -> SoftmaxSpec:
    return _spec(SoftmaxSpec, _parse(p["sm_in_t"]), p["sm_n"], p["sm_table_size"], p["sm_input_range"],
                 p["sm_table_bits"], _parse(p["sm_out_t"]))


# ---- integer kernels: (op, inputs raw, input types) -> raw output ------------------------------------------------------
def _k_input(op, x, _):
    # the testbench feeds floats; ap_fixed rounds them
    return op.out_t.quantize(x.reshape(len(x), -1)).astype(float_for(op.out_t.width))


def _k_cast(op, ins, in_t):
    return op.out_t.cast_any(ins[0], in_t[0].frac)


def _k_relu(op, ins, in_t):
    return op.out_t.cast_any(np.maximum(ins[0], 0), in_t[0].frac, inplace=True)


def _align(v: np.ndarray, k: int) -> np.ndarray:
    """v * 2**k, k >= 0, in v's dtype (exact)."""
    return v * v.dtype.type(2.0**k) if v.dtype.kind == "f" else v << np.int64(k)


def _fits_float(*bits: float) -> bool:
    return sum(bits) <= 52


def matmul_raw(a: np.ndarray, b: np.ndarray, a_t: FixedType, b_t: FixedType, bits: int | None = None) -> np.ndarray:
    """Exact a @ b of raws: float32 BLAS when every partial sum stays below 2**24 (`bits` magnitude bits, by
    default from the operand types and the length) unless both operands are float64 already (a conversion pass
    costs more than the wider product), float64 below 2**52, else int64."""
    if bits is None:
        bits = a_t.magnitude_bits + b_t.magnitude_bits + int(np.ceil(np.log2(max(a.shape[-1], 2))))
    if a.dtype.kind == "f" and bits <= 52:
        dt = np.float64 if a.dtype == b.dtype == np.float64 else float_for(bits)
        return np.matmul(a.astype(dt, copy=False), b.astype(dt, copy=False))
    return np.matmul(a.astype(np.int64), b.astype(np.int64))


def dense_raw(x, x_t: FixedType, w, w_t: FixedType, b, b_t: FixedType, acc_t: FixedType, out_t: FixedType):
    """hls4ml dense_latency: each product cast to accum_t, summed with the bias in accum_t, cast to the result.
    x: [..., n_in] raw; w: [n_in, n_out] raw."""
    pf = x_t.frac + w_t.frac
    exact = _holds_every_sum(acc_t, x_t, w_t, b_t, w.shape[0])
    if exact and pf >= b_t.frac:  # the accumulator never rounds or wraps: one exact sum, one cast
        bits = dot_accum_t(x_t, w_t, w.shape[0], b_t).magnitude_bits  # room for the bias
        acc = matmul_raw(x, w, x_t, w_t, bits=bits)
        acc += _align(np.asarray(b), pf - b_t.frac).astype(acc.dtype)
        if out_t.frac == pf and _holds_every_sum(out_t, x_t, w_t, b_t, w.shape[0]):
            return acc  # the result type holds every sum exactly (e.g. the accumulator feeding a relu)
        return out_t.cast_any(acc, pf, inplace=True)
    if acc_t.frac >= pf:  # products are exact in accum_t: sum first (wrap arithmetic is associative)
        acc = _align(matmul_raw(x, w, x_t, w_t), acc_t.frac - pf)
    else:
        prods = acc_t.cast(x.astype(np.int64)[..., :, None] * w, pf)
        acc = prods.sum(axis=-2)
    acc = acc + acc_t.cast(b, b_t.frac).astype(acc.dtype)
    return out_t.cast_any(acc_t.cast_any(acc, acc_t.frac), acc_t.frac)


def _holds_every_sum(acc_t: FixedType, x_t: FixedType, w_t: FixedType, b_t: FixedType, n: int) -> bool:
    """accum_t keeps all fraction bits of the products and the bias, and its range covers the largest sum."""
    need = dot_accum_t(x_t, w_t, n, b_t)
    return acc_t.frac >= need.frac and acc_t.integer >= need.integer and acc_t.signed


def _k_dense(op, ins, in_t):
    p = op.params
    w, b = op.arrays["w"], op.arrays["b"]
    x = ins[0].reshape(len(ins[0]), -1, w.shape[0])
    y = dense_raw(x, in_t[0], w, _parse(p["weight_t"]), b, _parse(p["bias_t"]), _parse(p["accum_t"]), op.out_t)
    return y.reshape(len(y), -1)


def _k_add(op, ins, in_t):
    f = max(t.frac for t in in_t)
    # magnitude bits of the exact sum: the widest aligned term, plus the carries of adding len(ins) of them
    bits = max(t.magnitude_bits + f - t.frac for t in in_t) + ceil_log2(len(ins))
    dt = np.int64 if bits > 52 or any(v.dtype.kind != "f" for v in ins) else float_for(bits)
    total = None
    for v, t in zip(ins, in_t):
        term = v.astype(dt, copy=False)
        if f > t.frac:
            term = _align(term, f - t.frac)
        if total is None:
            total = term.copy() if term is v else term  # a fresh array, ours to overwrite
        else:
            total += term
    return op.out_t.cast_any(total, f, inplace=True)


def _mha_types(p: dict) -> dict[str, FixedType]:
    return {k: _parse(v) for k, v in p.items() if k.endswith("_t") and not k.startswith("sm_")}


def mha_attention(x, x_t: FixedType, arrays: dict, p: dict, n_tokens: int):
    """Q/K/V projections, scaled scores and LUT softmax: (scores raw [b,h,i,j], probs raw, V raw [b,j,h,c])."""
    T = _mha_types(p)
    h, k = p["num_heads"], p["key_dim"]
    xs = x.reshape(len(x), n_tokens, -1)
    # the three projections share input, types and accumulator: one matrix product, then [3, b, h, token, c]
    w = np.concatenate([arrays[f"{n}_kernel"].reshape(xs.shape[-1], -1) for n in "qkv"], axis=1)
    b = np.concatenate([arrays[f"{n}_bias"] for n in "qkv"])
    qkv = dense_raw(xs, x_t, w, T["weight_t"], b, T["weight_t"], T["proj_accum_t"], T["qkv_t"])
    if qkv.dtype.kind == "f":
        qkv = qkv.astype(np.float64, copy=False)  # the score and context products below run in float64
    q, kk, v = qkv.reshape(len(x), n_tokens, 3, h, k).transpose(2, 0, 3, 1, 4)
    # scores key-major, [b, h, key j, query i]: the softmax reduces over axis -2 in whole-block slices (tree_reduce)
    sc = _spec(ScaleSpec, k, p["scale_bits"])
    src_frac = 2 * T["qkv_t"].frac + sc.const_t.frac
    if q.dtype.kind == "f" and _fits_float(T["dot_t"].width, sc.const_t.width):
        # the 1/sqrt(key_dim) constant multiplies Q before the product: the same exact dot * const in float64
        # (every partial sum is below 2**52, checked), and the constant touches key_dim/n_tokens as many elements
        qc = np.multiply(q, np.float64(sc.const_raw), dtype=np.float64)
        s = T["score_t"].cast_any(np.matmul(kk, qc.transpose(0, 1, 3, 2)), src_frac, inplace=True)
    else:
        dot = matmul_raw(kk, q.transpose(0, 1, 3, 2), T["qkv_t"], T["qkv_t"]).astype(np.int64)  # exact in dot_t
        s = T["score_t"].cast_any(dot * sc.const_raw, src_frac)
    return s, _softmax_spec(p).forward(s, axis=-2), v  # [b, h, j, i] both


def mha_raw(x, x_t: FixedType, arrays: dict, p: dict, out_t: FixedType, n_tokens: int):
    """Multi-head self-attention, integer arithmetic of nnet_tf_mha.h. x: [events, n_tokens*in_dim] raw."""
    T = _mha_types(p)
    h, k, qkv_t = p["num_heads"], p["key_dim"], T["qkv_t"]
    _, prob_t, v = mha_attention(x, x_t, arrays, p, n_tokens)
    ctx = qkv_t.cast_any(matmul_raw(prob_t.transpose(0, 1, 3, 2), v, T["prob_t"], qkv_t), T["prob_t"].frac + qkv_t.frac,
                         inplace=True)  # P V with P = prob_t^T: [b, h, i, c]
    ctx = ctx.transpose(0, 2, 1, 3).reshape(len(x), n_tokens, h * k)
    out = dense_raw(ctx, qkv_t, arrays["o_kernel"].reshape(h * k, -1), T["weight_t"],
                    arrays["o_bias"], T["weight_t"], T["out_accum_t"], out_t)
    return out.reshape(len(x), -1)


def attention_scores(emu: Emulator, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(float scores, float LUT-softmax probabilities) of every attention layer, for softmax diagnostics."""
    _, vals = emu.run(x, trace=True)
    types = emu.types()
    out = []
    for op in emu.ops:
        if op.kind == "mha":
            s, prob, _ = mha_attention(vals[op.inputs[0]], types[op.inputs[0]], op.arrays, op.params, op.params["sm_n"])
            T = _mha_types(op.params)
            out.append((T["score_t"].to_float(s).swapaxes(-1, -2), T["prob_t"].to_float(prob).swapaxes(-1, -2)))
    return out


def _k_mha(op, ins, in_t):
    return mha_raw(ins[0], in_t[0], op.arrays, op.params, op.out_t, op.params["sm_n"])


def _k_layernorm(op, ins, in_t):
    p = op.params
    sp = _spec(LayerNormSpec, _parse(p["in_t"]), p["dim"], p["table_size"], p["table_bits"], op.out_t, p["epsilon"])
    x = ins[0].reshape(len(ins[0]), -1, sp.dim)
    y = sp.forward(x, op.arrays["gamma"], op.arrays["beta"], _parse(p["gamma_t"]))
    return y.reshape(len(y), -1)


def _k_pool(op, ins, in_t):
    p = op.params
    sp = _spec(PoolSpec, _parse(p["in_t"]), p["n"], p["mode"], p["const_bits"])
    return sp.forward(ins[0].reshape(len(ins[0]), sp.n, -1), axis=1)


def _k_softmax(op, ins, in_t):
    sp = _softmax_spec(op.params)
    return sp.forward(ins[0].reshape(len(ins[0]), -1, sp.n)).reshape(len(ins[0]), -1)


_KERNELS = {"input": _k_input, "cast": _k_cast, "relu": _k_relu, "dense": _k_dense, "add": _k_add, "mha": _k_mha,
            "layernorm": _k_layernorm, "pool": _k_pool, "softmax": _k_softmax}
