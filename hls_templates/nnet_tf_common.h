// trigformer: helpers shared by the trigformer HLS layers (static sizes, no dynamic memory).
#ifndef NNET_TF_COMMON_H_
#define NNET_TF_COMMON_H_

#include "ap_fixed.h"
#include "ap_int.h"

namespace nnet {

namespace tf_strategy {
enum { latency = 0, resource = 1 };
}

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

} // namespace nnet

#endif
