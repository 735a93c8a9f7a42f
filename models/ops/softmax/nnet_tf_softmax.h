// trigformer: LUT softmax, bit-exact with models.ops.softmax.spec.SoftmaxSpec.forward.
//   d = x - max(x) (exact); e = exp_table[min((-d) >> exp_shift, size-1)]; s = sum(e) (exact);
//   inv = inv_table[min(s >> inv_shift, size-1)]; y = e * inv cast to res_T.
// The exp table may fold in a positive input scale (the attention's 1/sqrt(key_dim)): only differences are looked up.
// Tables are computed once in Python and written into the project as weight arrays, replicated: a row of n values
// reads `row_exp_copies` = ceil(n / 2) copies of the exp table (two reads per copy) and one copy of the 1/sum table.
#ifndef NNET_TF_SOFTMAX_H_
#define NNET_TF_SOFTMAX_H_

#include "nnet_tf_common.h"

namespace nnet {

struct tf_softmax_config {
    static const unsigned n = 16;
    static const unsigned n_rows = 1;
    static const unsigned table_size = 1024;
    static const int exp_shift = 1;
    static const int inv_shift = 11;
    static const unsigned row_exp_copies = 8;  // exp table copies one row reads
    static const unsigned reuse_factor = 1;
    static const unsigned rows_parallel = 1;   // stand-alone layer: rows per iteration
    static const unsigned iterations = 1;
    static const int norm_mult = tf_mult::dsp;  // exp x 1/sum: fabric or dsp (hls.multipliers)
    typedef ap_fixed<15, 7> diff_t;
    typedef ap_ufixed<18, 1, AP_RND, AP_SAT> exp_t;
    typedef ap_ufixed<22, 5> sum_t;
    typedef ap_ufixed<18, 1, AP_RND, AP_SAT> inv_t;
};

// One row. exp_table: this row's `row_exp_copies` copies (value i reads copy i / 2); inv_table: one copy.
template <class data_T, class res_T, typename CONFIG_T>
void tf_softmax_row(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n],
                    const typename CONFIG_T::exp_t exp_table[CONFIG_T::row_exp_copies * CONFIG_T::table_size],
                    const typename CONFIG_T::inv_t inv_table[CONFIG_T::table_size]) {
    #pragma HLS INLINE
    typedef typename CONFIG_T::diff_t diff_t;
    typedef typename CONFIG_T::sum_t sum_t;
    static const int DW = diff_t::width;
    static const int IW = DW + (CONFIG_T::exp_shift < 0 ? -CONFIG_T::exp_shift : 0) + 1;
    static const int SW = sum_t::width + (CONFIG_T::inv_shift < 0 ? -CONFIG_T::inv_shift : 0);

    typename CONFIG_T::exp_t e[CONFIG_T::n];
    #pragma HLS ARRAY_PARTITION variable=e complete

    data_T m = tf_reduce_max<data_T, CONFIG_T::n>(x);
    sum_t s = 0;
ExpLookup:
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
        #pragma HLS UNROLL
        diff_t d = x[i] - m;
        ap_uint<IW> idx = -tf_raw_signed<DW>(d);
        idx = tf_shift_right<CONFIG_T::exp_shift>(idx);
        if (idx > CONFIG_T::table_size - 1)
            idx = CONFIG_T::table_size - 1;
        e[i] = exp_table[(i / 2) * CONFIG_T::table_size + idx];
        s += e[i];
    }
    ap_uint<SW> sidx = tf_raw_unsigned<sum_t::width>(s);
    sidx = tf_shift_right<CONFIG_T::inv_shift>(sidx);
    if (sidx > CONFIG_T::table_size - 1)
        sidx = CONFIG_T::table_size - 1;
    typename CONFIG_T::inv_t inv = inv_table[sidx];
Normalize:
    for (unsigned i = 0; i < CONFIG_T::n; i++) {
        #pragma HLS UNROLL
        y[i] = tf_mul<CONFIG_T::norm_mult>::mul(e[i], inv);
    }
}

// One row as its own pipelined region (the stand-alone layer's unit of work).
template <class data_T, class res_T, typename CONFIG_T>
void tf_softmax_unit(const data_T x[CONFIG_T::n], res_T y[CONFIG_T::n],
                     const typename CONFIG_T::exp_t exp_table[CONFIG_T::row_exp_copies * CONFIG_T::table_size],
                     const typename CONFIG_T::inv_t inv_table[CONFIG_T::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS PIPELINE II=1
    tf_softmax_row<data_T, res_T, CONFIG_T>(x, y, exp_table, inv_table);
}

// Stand-alone layer: n_rows independent rows, `rows_parallel` per iteration. The tables hold
// rows_parallel * row_exp_copies (exp) and rows_parallel (1/sum) copies.
template <class data_T, class res_T, typename CONFIG_T>
void tf_lut_softmax(const data_T data[CONFIG_T::n_rows * CONFIG_T::n], res_T res[CONFIG_T::n_rows * CONFIG_T::n],
                    const typename CONFIG_T::exp_t
                        exp_table[CONFIG_T::rows_parallel * CONFIG_T::row_exp_copies * CONFIG_T::table_size],
                    const typename CONFIG_T::inv_t inv_table[CONFIG_T::rows_parallel * CONFIG_T::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS ARRAY_PARTITION variable=data complete
    #pragma HLS ARRAY_PARTITION variable=res complete
    #pragma HLS ARRAY_PARTITION variable=exp_table block factor=CONFIG_T::exp_copies
    #pragma HLS ARRAY_PARTITION variable=inv_table block factor=CONFIG_T::rows_parallel
Iterations:
    for (unsigned r = 0; r < CONFIG_T::iterations; r++) {
        #pragma HLS PIPELINE II=1
    Rows:
        for (unsigned p = 0; p < CONFIG_T::rows_parallel; p++) {
            #pragma HLS UNROLL
            const unsigned row = r * CONFIG_T::rows_parallel + p;
            if (row < CONFIG_T::n_rows)
                tf_softmax_unit<data_T, res_T, CONFIG_T>(
                    &data[row * CONFIG_T::n], &res[row * CONFIG_T::n],
                    &exp_table[p * CONFIG_T::row_exp_copies * CONFIG_T::table_size], &inv_table[p * CONFIG_T::table_size]);
        }
    }
}

} // namespace nnet

#endif
