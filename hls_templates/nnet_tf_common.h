// trigformer: helpers shared by the trigformer HLS layers (static sizes, no dynamic memory).
//
// How every trigformer layer shares hardware (the reuse factor R of the layer's config):
//   a layer has `units` independent pieces of work (tokens, attention rows = heads x queries, features);
//   `parallel` = ceil(units / R) of them run side by side, in `iterations` = ceil(units / parallel) <= R
//   iterations of a loop pipelined at II = 1, so the layer accepts a new event every `iterations` cycles.
//   Each unit is its own function (INLINE off, PIPELINE II=1): a pipelined region holds one unit's operations,
//   never the whole layer's. Lookup tables are replicated: every copy is a separate ROM with two read ports, and
//   there are enough copies for every read of one iteration (`*_copies` in the config; the data are written
//   `copies` times into firmware/weights, one block per copy, and block-partitioned here).
#ifndef NNET_TF_COMMON_H_
#define NNET_TF_COMMON_H_

#include "ap_fixed.h"
#include "ap_int.h"

namespace nnet {

namespace tf_strategy {
enum { latency = 0, resource = 1, distributed_arithmetic = 2 };
}

// Every variable x variable product is tf_mul<IMPL>::mul(a, b): the exact product, bound by hls.multipliers
// (fabric = LUTs, dsp = DSP48E2; the writer picks IMPL per product with the rule the RTL and the estimate use,
// models/ops/hls_common.py mul_impl). A BIND_OP pragma takes no template argument, hence one specialization each.
namespace tf_mult {
enum { fabric = 0, dsp = 1 };
}
template <int IMPL> struct tf_mul;
template <> struct tf_mul<tf_mult::fabric> {
    template <class A, class B> static auto mul(const A &a, const B &b) -> decltype(a * b) {
        #pragma HLS INLINE
        decltype(a * b) p = a * b;
        #pragma HLS BIND_OP variable=p op=mul impl=fabric
        return p;
    }
};
template <> struct tf_mul<tf_mult::dsp> {
    template <class A, class B> static auto mul(const A &a, const B &b) -> decltype(a * b) {
        #pragma HLS INLINE
        decltype(a * b) p = a * b;
        #pragma HLS BIND_OP variable=p op=mul impl=dsp
        return p;
    }
};

// Raw two's-complement bits of a fixed-point value as an integer of the same width.
template <int W, class T> ap_int<W> tf_raw_signed(T x) {
    #pragma HLS INLINE
    ap_int<W> r;
    r.range(W - 1, 0) = x.range(W - 1, 0);
    return r;
}

template <int W, class T> ap_uint<W> tf_raw_unsigned(T x) {
    #pragma HLS INLINE
    ap_uint<W> r;
    r.range(W - 1, 0) = x.range(W - 1, 0);
    return r;
}

// x >> S for a compile-time S that may be negative (then a left shift); the result type must be wide enough.
template <int S, class T> T tf_shift_right(T x) {
    #pragma HLS INLINE
    if (S >= 0)
        return x >> (S >= 0 ? S : 0);
    else
        return x << (S < 0 ? -S : 0);
}

// Maximum of n values as a balanced comparator tree (depth ceil(log2 n)).
template <class T, int N> T tf_reduce_max(const T x[N]) {
    #pragma HLS INLINE
    T buf[N];
    #pragma HLS ARRAY_PARTITION variable=buf complete
    for (int i = 0; i < N; i++) {
        #pragma HLS UNROLL
        buf[i] = x[i];
    }
    for (int width = 1; width < N; width *= 2) {
        #pragma HLS UNROLL
        for (int i = 0; i + width < N; i += 2 * width) {
            #pragma HLS UNROLL
            buf[i] = (buf[i + width] > buf[i]) ? buf[i + width] : buf[i];
        }
    }
    return buf[0];
}

// y[j] = cast<y_T>(b[j] + sum_i x[i] * w[i * DOUT + j]); acc_T holds every partial sum exactly.
template <class x_T, class y_T, class w_T, class b_T, class acc_T, int DIN, int DOUT>
void tf_matvec(const x_T x[DIN], y_T y[DOUT], const w_T w[DIN * DOUT], const b_T b[DOUT]) {
    #pragma HLS INLINE
Outputs:
    for (int j = 0; j < DOUT; j++) {
        #pragma HLS UNROLL
        acc_T acc = b[j];
    Inputs:
        for (int i = 0; i < DIN; i++) {
            #pragma HLS UNROLL
            acc += x[i] * w[i * DOUT + j];
        }
        y[j] = acc;
    }
}

} // namespace nnet

#endif
