// trigformer: fixed-point DyT (gamma * tanh(alpha * x) + beta), bit-exact with models.ops.dyt.spec.DyTSpec.forward.
//   t = tanh_table[(x_raw >> shift) + table_size / 2] (alpha folded into the table); y = cast<res_T>(t * gamma + beta)
//   (product and sum exact). Per element, no reduction: a token is one pipelined unit, each table copy serves two
//   elements (a ROM's two ports).
#ifndef NNET_TF_DYT_H_
#define NNET_TF_DYT_H_

#include "nnet_tf_common.h"

namespace nnet {

struct tf_dyt_config {
    static const unsigned n_tokens = 16;
    static const unsigned dim = 16;
    static const unsigned table_size = 1024;
    static const unsigned shift = 0;
    static const unsigned reuse_factor = 1;
    static const unsigned tokens_parallel = 16;
    static const unsigned iterations = 1;
    static const unsigned token_copies = 8;  // table copies one token reads: (dim + 1) / 2
    typedef ap_fixed<18, 1, AP_RND, AP_SAT> tanh_t;
    typedef ap_fixed<8, 2> gamma_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void tf_dyt_token(const data_T x[CONFIG_T::dim], res_T y[CONFIG_T::dim],
                  const typename CONFIG_T::gamma_t gamma[CONFIG_T::dim],
                  const typename CONFIG_T::gamma_t beta[CONFIG_T::dim],
                  const typename CONFIG_T::tanh_t tanh_table[CONFIG_T::token_copies * CONFIG_T::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS PIPELINE II=1
Elements:
    for (unsigned i = 0; i < CONFIG_T::dim; i++) {
        #pragma HLS UNROLL
        ap_int<data_T::width> raw = tf_raw_signed<data_T::width>(x[i]);
        ap_int<data_T::width> top = raw >> CONFIG_T::shift;  // arithmetic: the signed bin
        unsigned idx = (unsigned)(int)(top + (int)(CONFIG_T::table_size / 2));
        typename CONFIG_T::tanh_t t = tanh_table[(i / 2) * CONFIG_T::table_size + idx];
        y[i] = t * gamma[i] + beta[i];
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void tf_dyt(const data_T data[CONFIG_T::n_tokens * CONFIG_T::dim], res_T res[CONFIG_T::n_tokens * CONFIG_T::dim],
            const typename CONFIG_T::gamma_t gamma[CONFIG_T::dim], const typename CONFIG_T::gamma_t beta[CONFIG_T::dim],
            const typename CONFIG_T::tanh_t
                tanh_table[CONFIG_T::tokens_parallel * CONFIG_T::token_copies * CONFIG_T::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS ARRAY_PARTITION variable=data complete
    #pragma HLS ARRAY_PARTITION variable=res complete
    #pragma HLS ARRAY_PARTITION variable=gamma complete
    #pragma HLS ARRAY_PARTITION variable=beta complete
    #pragma HLS ARRAY_PARTITION variable=tanh_table block factor=CONFIG_T::tokens_parallel*CONFIG_T::token_copies
Iterations:
    for (unsigned r = 0; r < CONFIG_T::iterations; r++) {
        #pragma HLS PIPELINE II=1
    Tokens:
        for (unsigned p = 0; p < CONFIG_T::tokens_parallel; p++) {
            #pragma HLS UNROLL
            const unsigned t = r * CONFIG_T::tokens_parallel + p;
            if (t < CONFIG_T::n_tokens)
                tf_dyt_token<data_T, res_T, CONFIG_T>(&data[t * CONFIG_T::dim], &res[t * CONFIG_T::dim], gamma, beta,
                                                      &tanh_table[p * CONFIG_T::token_copies * CONFIG_T::table_size]);
        }
    }
}

} // namespace nnet

#endif
