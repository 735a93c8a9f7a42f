// trigformer: fixed-point LayerNorm, bit-exact with models.ops.layernorm.spec.LayerNormSpec.forward.
//   mean = cast<mean_t>(sum(x) * 1/dim); diff = x - mean (exact); var = cast<var_t>(sum(diff^2) * 1/dim);
//   rs = 1/sqrt(var + eps) (nnet_tf_rsqrt.h: a leading-one detector, a table and one shift per token);
//   y = cast<res_T>(cast<norm_t>(diff * rs) * gamma + beta).
// One token is one pipelined unit; `tokens_parallel` tokens per iteration, each with its own 1/sqrt table read
// (two tokens per table copy).
#ifndef NNET_TF_LAYERNORM_H_
#define NNET_TF_LAYERNORM_H_

#include "nnet_tf_common.h"
#include "nnet_tf_rsqrt.h"

namespace nnet {

struct tf_layernorm_config : tf_rsqrt_config {
    static const unsigned n_tokens = 16;
    static const unsigned dim = 16;
    static const unsigned long invdim_raw = 131072;
    static const unsigned long eps_raw = 16;
    static const unsigned reuse_factor = 1;
    static const unsigned tokens_parallel = 16;
    static const unsigned iterations = 1;
    static const unsigned table_copies = 8;
    static const int sq_mult = tf_mult::dsp;  // x.x and x * 1/sqrt products: fabric or dsp (hls.multipliers)
    static const int rs_mult = tf_mult::dsp;
    typedef ap_fixed<14, 5> sum_t;
    typedef ap_ufixed<22, 1> invdim_t;
    typedef ap_fixed<14, 5, AP_RND_CONV, AP_SAT> mean_t;
    typedef ap_fixed<15, 6> diff_t;
    typedef ap_ufixed<34, 10> sqsum_t;
    typedef ap_fixed<14, 4, AP_RND_CONV, AP_SAT> norm_t;
    typedef ap_fixed<8, 2> gamma_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void tf_layernorm_token(const data_T x[CONFIG_T::dim], res_T y[CONFIG_T::dim],
                        const typename CONFIG_T::gamma_t gamma[CONFIG_T::dim],
                        const typename CONFIG_T::gamma_t beta[CONFIG_T::dim],
                        const typename CONFIG_T::rsqrt_t rsqrt_table[CONFIG_T::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS PIPELINE II=1
    typedef typename CONFIG_T::var_t var_t;
    static const int VW = var_t::width + 1; // var + eps may carry one bit

    typename CONFIG_T::invdim_t invdim;
    invdim.range(CONFIG_T::invdim_t::width - 1, 0) = CONFIG_T::invdim_raw;

    typename CONFIG_T::sum_t sum = 0;
    for (unsigned i = 0; i < CONFIG_T::dim; i++) {
        #pragma HLS UNROLL
        sum += x[i];
    }
    typename CONFIG_T::mean_t mean = sum * invdim;

    typename CONFIG_T::diff_t diff[CONFIG_T::dim];
    #pragma HLS ARRAY_PARTITION variable=diff complete
    typename CONFIG_T::sqsum_t sq = 0;
    for (unsigned i = 0; i < CONFIG_T::dim; i++) {
        #pragma HLS UNROLL
        diff[i] = x[i] - mean;
        sq += tf_mul<CONFIG_T::sq_mult>::mul(diff[i], diff[i]);
    }
    var_t var = sq * invdim;
    ap_uint<VW> v = tf_raw_unsigned<var_t::width>(var);
    v += CONFIG_T::eps_raw;
    typename CONFIG_T::rs_t rs = tf_rsqrt<CONFIG_T, VW>(v, rsqrt_table);

Normalize:
    for (unsigned i = 0; i < CONFIG_T::dim; i++) {
        #pragma HLS UNROLL
        typename CONFIG_T::norm_t n = tf_mul<CONFIG_T::rs_mult>::mul(diff[i], rs);
        y[i] = n * gamma[i] + beta[i];
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void tf_layernorm(const data_T data[CONFIG_T::n_tokens * CONFIG_T::dim],
                  res_T res[CONFIG_T::n_tokens * CONFIG_T::dim],
                  const typename CONFIG_T::gamma_t gamma[CONFIG_T::dim],
                  const typename CONFIG_T::gamma_t beta[CONFIG_T::dim],
                  const typename CONFIG_T::rsqrt_t rsqrt_table[CONFIG_T::table_copies * CONFIG_T::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS ARRAY_PARTITION variable=data complete
    #pragma HLS ARRAY_PARTITION variable=res complete
    #pragma HLS ARRAY_PARTITION variable=gamma complete
    #pragma HLS ARRAY_PARTITION variable=beta complete
    #pragma HLS ARRAY_PARTITION variable=rsqrt_table block factor=CONFIG_T::table_copies
Iterations:
    for (unsigned r = 0; r < CONFIG_T::iterations; r++) {
        #pragma HLS PIPELINE II=1
    Tokens:
        for (unsigned p = 0; p < CONFIG_T::tokens_parallel; p++) {
            #pragma HLS UNROLL
            const unsigned t = r * CONFIG_T::tokens_parallel + p;
            if (t < CONFIG_T::n_tokens)
                tf_layernorm_token<data_T, res_T, CONFIG_T>(&data[t * CONFIG_T::dim], &res[t * CONFIG_T::dim], gamma,
                                                            beta, &rsqrt_table[(p / 2) * CONFIG_T::table_size]);
        }
    }
}

} // namespace nnet

#endif
