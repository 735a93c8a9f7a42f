"""Structural checks that stand in for vendor synthesis of the generated HLS (no Vitis or Vivado here).

For the default example's shapes written at each strategy and several reuse factors (projects are written, not
compiled: seconds each), read back the generated parameters.h and our headers and check:
1. every CONFIG_T::name a pragma of our headers uses is set explicitly in every generated config struct of that
   kind (an inherited default would silently be the wrong value);
2. every lookup table has a read port for every read of one iteration (two ports per ROM copy);
3. the multiplications unrolled inside one pipelined region (one unit of work) stay below MAX_MULTS_PER_REGION,
   far below the ~25,600 operations in one region that HLS users report scheduler blow-ups with;
4. every layer's II (`iterations`) is at most the requested reuse factor;
5. distributed arithmetic: every constant-weight product calls an alkaid kernel that nnet_code_gen.h defines, made of
   shifts and adds only, and one kernel (one token's pipelined region) stays below MAX_MULTS_PER_REGION operations.
References: counts derived by hand from the layer shapes (below), and the header text itself."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import tensorflow as tf

from trigformer.flow.config import Config
from trigformer.flow.convert import convert
from trigformer.models.builder import build_model, snap_to_grid

MAX_MULTS_PER_REGION = 4096
OPS = Path(__file__).resolve().parents[1] / "models" / "ops"
KIND_OF_HEADER = {"nnet_tf_dense.h": "tf_dense_config", "nnet_tf_mha.h": "tf_mha_config",
                  "nnet_tf_softmax.h": "tf_softmax_config", "nnet_tf_layernorm.h": "tf_layernorm_config",
                  "nnet_tf_rmsnorm.h": "tf_rmsnorm_config", "nnet_tf_pooling.h": "tf_pooling_config"}


def structs(parameters_h: str) -> dict[str, tuple[str, dict[str, str]]]:
    """name -> (base kind, {field: value}) of every `struct NAME : nnet::KIND { ... };` in parameters.h."""
    out = {}
    for name, kind, body in re.findall(r"struct (\w+) : nnet::(\w+) \{(.*?)\n\};", parameters_h, re.S):
        fields = dict(re.findall(r"static const [\w ]+? (\w+) = ([^;]+);", body))
        fields.update({alias: t for t, alias in re.findall(r"typedef (.+?) (\w+);", body)})
        out[name] = (kind, fields)
    return out


def pragma_names(header: Path) -> set[str]:
    return {n for line in header.read_text().splitlines() if "#pragma" in line
            for n in re.findall(r"CONFIG_T::(\w+)", line)}


@pytest.fixture(scope="module", params=[("latency", 1), ("latency", 4), ("resource", 2), ("resource", 5),
                                        ("latency", 32), ("distributed_arithmetic", 1)])
def generated(request, tmp_path_factory):
    strategy, reuse = request.param
    cfg = Config.model_validate({"name": "structure", "model": {"norm": "layernorm"},
                                 "hls": {"strategy": strategy, "reuse_factor": reuse}})
    tf.keras.utils.set_random_seed(1)
    model = build_model(cfg)
    snap_to_grid(model)
    out = tmp_path_factory.mktemp(f"{strategy}{reuse}")
    hls_model = convert(model, cfg, out, "xcvu9p-flga2104-2L-e", trace=False)
    hls_model.write()
    return reuse, structs((out / "firmware" / "parameters.h").read_text()), out / "firmware"


def test_every_pragma_name_is_set_in_every_struct(generated):
    _, st, _ = generated
    for header, kind in KIND_OF_HEADER.items():
        names = pragma_names(next(OPS.glob(f"*/{header}")))
        for name, (k, fields) in st.items():
            if k == kind:
                missing = names - set(fields)
                assert not missing, (name, kind, missing)


def test_tables_have_a_read_port_for_every_read_per_iteration(generated):
    _, st, _ = generated
    seen = 0
    for name, (kind, f) in st.items():
        if kind == "tf_mha_config":
            sm = st[f["softmax_config"]][1]
            rows, n = int(f["rows_parallel"]), int(f["n_tokens"])
            assert int(f["exp_copies"]) == rows * int(sm["row_exp_copies"])
            assert 2 * int(sm["row_exp_copies"]) >= n  # one row reads n exp values, two per copy
            assert 2 * int(f["exp_copies"]) >= rows * n  # all rows of one iteration
            seen += 1
        if kind in ("tf_layernorm_config", "tf_rmsnorm_config"):
            assert 2 * int(f["table_copies"]) >= int(f["tokens_parallel"])  # one 1/sqrt read per token
            seen += 1
    assert seen == 6  # 2 attention layers, 4 norms


def test_multiplications_per_pipelined_region_are_bounded(generated):
    _, st, _ = generated
    for name, (kind, f) in st.items():
        if kind == "tf_mha_config":  # one attention row: Q.K^T, e * 1/sum and P.V
            n, k = int(f["n_tokens"]), int(f["key_dim"])
            mults = 2 * n * k + n
        elif kind == "tf_dense_config":  # one token (latency) or one token's output block (resource)
            if f["strategy"].endswith("distributed_arithmetic"):
                continue  # no multiplier: test_distributed_arithmetic_kernels counts its operations
            block = int(f["n_out"]) if f["strategy"].endswith("latency") else int(f["out_block"])
            mults = int(f["n_in"]) * block
        elif kind == "tf_layernorm_config":  # one token: squares, normalisation, gamma
            mults = 3 * int(f["dim"])
        else:
            continue
        assert mults <= MAX_MULTS_PER_REGION, (name, mults)


def _units_and_parallel(kind: str, f: dict) -> tuple[int, int] | None:
    """(units of work, units per iteration) of one layer config (see nnet_tf_common.h)."""
    latency = f.get("strategy", "").endswith(("latency", "distributed_arithmetic"))  # token units
    if kind == "tf_mha_config":
        return int(f["num_heads"]) * int(f["n_tokens"]), int(f["rows_parallel"])
    if kind == "tf_dense_config":
        return (int(f["n_tokens"]), int(f["tokens_parallel"])) if latency else (int(f["n_out"]), int(f["out_block"]))
    if kind in ("tf_layernorm_config", "tf_rmsnorm_config"):
        return int(f["n_tokens"]), int(f["tokens_parallel"])
    if kind == "tf_pooling_config":
        return int(f["dim"]), int(f["features_parallel"])
    return None


def test_every_layer_ii_is_within_the_reuse_factor(generated):
    reuse, st, _ = generated
    checked = 0
    for name, (kind, f) in st.items():
        up = _units_and_parallel(kind, f)
        if up is None:
            continue
        units, per = up
        assert int(f["iterations"]) == math.ceil(units / per) and 1 <= int(f["iterations"]) <= reuse, (name, f)
        checked += 1
    assert checked >= 13  # embed, 2 x (4 projections + attention, 2 norms, 2 FFN), pool


def test_distributed_arithmetic_kernels(generated):
    """DA project: every tf_dense_config (embedding, Q/K/V/O, FFN) calls a kernel that nnet_code_gen.h defines, the
    classifier calls hls4ml's DA entry point dense_da_<index> (and has no weight arrays); kernels are shifts and adds
    only, each at most MAX_MULTS_PER_REGION operations (one kernel is one token's pipelined region)."""
    _, st, firmware = generated
    dense = [f for kind, f in st.values() if kind == "tf_dense_config"]
    if not dense[0]["strategy"].endswith("distributed_arithmetic"):
        assert "dense_da_" not in (firmware / "nnet_utils" / "nnet_code_gen.h").read_text()
        return
    code = (firmware / "nnet_utils" / "nnet_code_gen.h").read_text()
    kernels = dict(re.findall(r"void (dense_da_\w+)\(inp_t model_inp\[\d+\], out_t model_out\[\d+\]\) \{(.*?)\n\}",
                              code, re.S))
    called = re.findall(r"nnet::(dense_da_\w+)<x_T, y_T>", (firmware / "parameters.h").read_text())
    head = re.findall(r"nnet::(dense_da_\d+)<\w+, result_t>", (firmware / "structure.cpp").read_text())
    assert all(f["strategy"].endswith("distributed_arithmetic") for f in dense)
    assert len(dense) == len(called) == 13  # embed, 2 x (Q, K, V, O, 2 FFN)
    assert len(head) == 1 and set(called) | set(head) == set(kernels)
    assert not (firmware / "weights" / f"w{head[0].removeprefix('dense_da_')}.h").exists()  # hls4ml drops them
    for name, body in kernels.items():
        ops = re.findall(r"^\s+ap_u?fixed<[^>]+> v\d+ = (.*);", body, re.M)
        assert ops and not any(" * " in op for op in ops), name  # shifts and adds only
        assert len(ops) <= MAX_MULTS_PER_REGION, (name, len(ops))
