// trigformer: fixed-point RMSNorm, bit-exact with models.ops.rmsnorm.spec.RMSNormSpec.forward.
//   ms = cast<var_t>(sum(x^2) * 1/dim); rs = 1/sqrt(ms + eps) (nnet_tf_rsqrt.h, one shift per token);
//   y = cast<res_T>(cast<norm_t>(x * rs) * gamma). One token is one pipelined unit, as in nnet_tf_layernorm.h.
#ifndef NNET_TF_RMSNORM_H_
#define NNET_TF_RMSNORM_H_

#include "nnet_tf_common.h"
#include "nnet_tf_rsqrt.h"

namespace nnet {

struct tf_rmsnorm_config : tf_rsqrt_config {
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
    typedef ap_ufixed<22, 1> invdim_t;
    typedef ap_ufixed<34, 13> sqsum_t;
    typedef ap_fixed<14, 4, AP_RND_CONV, AP_SAT> norm_t;
    typedef ap_fixed<8, 2> gamma_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void tf_rmsnorm_token(const data_T x[CONFIG_T::dim], res_T y[CONFIG_T::dim],
                      const typename CONFIG_T::gamma_t gamma[CONFIG_T::dim],
                      const typename CONFIG_T::rsqrt_t rsqrt_table[CONFIG_T::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS PIPELINE II=1
    typedef typename CONFIG_T::var_t var_t;
    static const int VW = var_t::width + 1; // ms + eps may carry one bit
    typename CONFIG_T::invdim_t invdim;
    invdim.range(CONFIG_T::invdim_t::width - 1, 0) = CONFIG_T::invdim_raw;
    typename CONFIG_T::sqsum_t sq = 0;
    for (unsigned i = 0; i < CONFIG_T::dim; i++) {
        #pragma HLS UNROLL
        sq += tf_mul<CONFIG_T::sq_mult>::mul(x[i], x[i]);
    }
    var_t ms = sq * invdim;
    ap_uint<VW> v = tf_raw_unsigned<var_t::width>(ms);
    v += CONFIG_T::eps_raw;
    typename CONFIG_T::rs_t rs = tf_rsqrt<CONFIG_T, VW>(v, rsqrt_table);
Normalize:
    for (unsigned i = 0; i < CONFIG_T::dim; i++) {
        #pragma HLS UNROLL
        typename CONFIG_T::norm_t n = tf_mul<CONFIG_T::rs_mult>::mul(x[i], rs);
        y[i] = n * gamma[i];
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void tf_rmsnorm(const data_T data[CONFIG_T::n_tokens * CONFIG_T::dim], res_T res[CONFIG_T::n_tokens * CONFIG_T::dim],
                const typename CONFIG_T::gamma_t gamma[CONFIG_T::dim],
                const typename CONFIG_T::rsqrt_t rsqrt_table[CONFIG_T::table_copies * CONFIG_T::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS ARRAY_PARTITION variable=data complete
    #pragma HLS ARRAY_PARTITION variable=res complete
    #pragma HLS ARRAY_PARTITION variable=gamma complete
    #pragma HLS ARRAY_PARTITION variable=rsqrt_table block factor=CONFIG_T::table_copies
Iterations:
    for (unsigned r = 0; r < CONFIG_T::iterations; r++) {
        #pragma HLS PIPELINE II=1
    Tokens:
        for (unsigned p = 0; p < CONFIG_T::tokens_parallel; p++) {
            #pragma HLS UNROLL
            const unsigned t = r * CONFIG_T::tokens_parallel + p;
            if (t < CONFIG_T::n_tokens)
                tf_rmsnorm_token<data_T, res_T, CONFIG_T>(&data[t * CONFIG_T::dim], &res[t * CONFIG_T::dim], gamma,
                                                          &rsqrt_table[(p / 2) * CONFIG_T::table_size]);
        }
    }
}

} // namespace nnet

#endif
