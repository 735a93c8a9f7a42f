// trigformer: fixed-point LayerNorm, bit-exact with models.numerics.LayerNormSpec.forward.
//   mean = cast<mean_t>(sum(x) * 1/dim); diff = x - mean (exact); var = cast<var_t>(sum(diff^2) * 1/dim);
//   v = var + eps; with v in [2^e, 2^(e+1)): 1/sqrt(v) = rsqrt_table[parity(e), mantissa bits] * 2^-floor(e/2)
//   (a leading-one detector and a shift instead of a divider or a range-limited table);
//   y = cast<res_T>(cast<norm_t>(diff * 1/sqrt(v)) * gamma + beta).
#ifndef NNET_TF_LAYERNORM_H_
#define NNET_TF_LAYERNORM_H_

#include "nnet_tf_common.h"

namespace nnet {

struct tf_layernorm_config {
    static const unsigned n_tokens = 16;
    static const unsigned dim = 16;
    static const unsigned table_size = 1024;
    static const unsigned mant_bits = 9;
    static const int var_frac = 14;
    static const int half_min = -7;
    static const int half_max = 5;
    static const unsigned long invdim_raw = 131072;
    static const unsigned long eps_raw = 16;
    static const unsigned reuse_factor = 1;
    typedef ap_fixed<14, 5> sum_t;
    typedef ap_ufixed<22, 1> invdim_t;
    typedef ap_fixed<14, 5, AP_RND_CONV, AP_SAT> mean_t;
    typedef ap_fixed<15, 6> diff_t;
    typedef ap_ufixed<34, 10> sqsum_t;
    typedef ap_ufixed<24, 10, AP_RND_CONV, AP_SAT> var_t;
    typedef ap_ufixed<18, 0, AP_RND, AP_SAT> rsqrt_t;
    typedef ap_fixed<52, 13> wide_t;
    typedef ap_fixed<14, 4, AP_RND_CONV, AP_SAT> norm_t;
    typedef ap_fixed<8, 2> gamma_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void tf_layernorm_token(const data_T x[CONFIG_T::dim], res_T y[CONFIG_T::dim],
                        const typename CONFIG_T::gamma_t gamma[CONFIG_T::dim],
                        const typename CONFIG_T::gamma_t beta[CONFIG_T::dim],
                        const typename CONFIG_T::rsqrt_t rsqrt_table[CONFIG_T::table_size]) {
    #pragma HLS INLINE
    typedef typename CONFIG_T::var_t var_t;
    static const int VW = var_t::width + 1; // var + eps may carry one bit
    static const int T = CONFIG_T::mant_bits;
    static const int MW = (VW > T + 1 ? VW : T + 1) + 1;

    typename CONFIG_T::invdim_t invdim;
    invdim.range(CONFIG_T::invdim_t::width - 1, 0) = CONFIG_T::invdim_raw;

    typename CONFIG_T::sum_t sum = 0;
    for (unsigned i = 0; i < CONFIG_T::dim; i++) {
        sum += x[i];
    }
    typename CONFIG_T::mean_t mean = sum * invdim;

    typename CONFIG_T::diff_t diff[CONFIG_T::dim];
    #pragma HLS ARRAY_PARTITION variable=diff complete
    typename CONFIG_T::sqsum_t sq = 0;
    for (unsigned i = 0; i < CONFIG_T::dim; i++) {
        diff[i] = x[i] - mean;
        sq += diff[i] * diff[i];
    }
    var_t var = sq * invdim;

    ap_uint<MW> v = tf_raw_unsigned<var_t::width>(var);
    v += CONFIG_T::eps_raw;
    // leading-one detector: the last set bit seen from the bottom wins
    int p = 0;
LeadingOne:
    for (int b = 0; b < VW; b++) {
        #pragma HLS UNROLL
        if (v[b])
            p = b;
    }
    int e = p - CONFIG_T::var_frac;
    int par = e & 1;
    int half = (e - par) / 2;
    ap_uint<MW> mant_src = (p >= T) ? ap_uint<MW>(v >> (p - T)) : ap_uint<MW>(v << (T - p));
    ap_uint<T> mant = mant_src.range(T - 1, 0);
    ap_uint<T + 1> idx = (ap_uint<T + 1>(par) << T) | mant;
    typename CONFIG_T::rsqrt_t r = rsqrt_table[idx];

Normalize:
    for (unsigned i = 0; i < CONFIG_T::dim; i++) {
        #pragma HLS UNROLL
        typename CONFIG_T::wide_t w = diff[i] * r;
        // exact: wide_t has half_max extra fraction bits and -half_min extra integer bits
        if (half >= 0)
            w = w >> half;
        else
            w = w << (-half);
        typename CONFIG_T::norm_t n = w;
        y[i] = n * gamma[i] + beta[i];
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void tf_layernorm(const data_T data[CONFIG_T::n_tokens * CONFIG_T::dim],
                  res_T res[CONFIG_T::n_tokens * CONFIG_T::dim],
                  const typename CONFIG_T::gamma_t gamma[CONFIG_T::dim],
                  const typename CONFIG_T::gamma_t beta[CONFIG_T::dim],
                  const typename CONFIG_T::rsqrt_t rsqrt_table[CONFIG_T::table_size]) {
    #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
    #pragma HLS ARRAY_PARTITION variable=data complete
    #pragma HLS ARRAY_PARTITION variable=res complete
    #pragma HLS ARRAY_PARTITION variable=gamma complete
    #pragma HLS ARRAY_PARTITION variable=beta complete
Tokens:
    for (unsigned t = 0; t < CONFIG_T::n_tokens; t++) {
        tf_layernorm_token<data_T, res_T, CONFIG_T>(&data[t * CONFIG_T::dim], &res[t * CONFIG_T::dim], gamma, beta,
                                                    rsqrt_table);
    }
}

} // namespace nnet

#endif
