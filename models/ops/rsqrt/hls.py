"""hls4ml helpers of the 1/sqrt building block (nnet_tf_rsqrt.h), shared by the norms that use it (layernorm/,
rmsnorm/): the tf_rsqrt_config fields of their config struct and the table weight variable."""

from __future__ import annotations

from trigformer.models.ops.hls_common import ctype, replicated


def rsqrt_fields(node, rs) -> str:
    """The tf_rsqrt_config part of a norm's config struct (models.ops.rsqrt)."""
    lo, hi = rs.half_range
    return f"""    static const unsigned table_size = {rs.table_size};
    static const unsigned mant_bits = {rs.mant_bits};
    static const int var_frac = {rs.var_t.frac};
    static const int half_min = {lo};
    static const int half_max = {hi};
    typedef {ctype(node, 'var_t')} var_t;
    typedef {node.get_weights('rsqrt_table').type.name} rsqrt_t;
    typedef {ctype(node, 'rs_t')} rs_t;
"""


def add_rsqrt_table(node, rs, copies: int) -> None:
    node.add_weights_variable(name="rsqrt_table", var_name="rsqrt_table{index}", type_name="rsqrt_table{index}_t",
                              precision=rs.rsqrt_t.to_hls4ml(), data=replicated(rs.rsqrt_t.to_float(rs.table), copies))
