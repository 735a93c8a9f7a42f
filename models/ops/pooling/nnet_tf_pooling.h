// trigformer: pooling over tokens, bit-exact with models.ops.pooling.spec.PoolSpec.forward.
//   mean: cast<res_T>(sum_t(sum of tokens) * 1/n) with 1/n a fixed-point constant (exact for n = 2^k);
//   max: a comparator tree. One feature is one unit; `features_parallel` features per iteration.
#ifndef NNET_TF_POOLING_H_
#define NNET_TF_POOLING_H_

#include "nnet_tf_common.h"

namespace nnet {

struct tf_pooling_config {
    static const unsigned n_tokens = 16;
    static const unsigned dim = 16;
    static const bool is_max = false;
    static const unsigned long invn_raw = 8192;
    static const unsigned reuse_factor = 1;
    static const unsigned features_parallel = 16;
    static const unsigned iterations = 1;
    typedef ap_fixed<14, 9> sum_t;
    typedef ap_ufixed<22, 1> invn_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void tf_pool_feature(const data_T col[CONFIG_T::n_tokens], res_T &out) {
    #pragma HLS INLINE off
    #pragma HLS PIPELINE II=1
    if (CONFIG_T::is_max) {
        out = tf_reduce_max<data_T, CONFIG_T::n_tokens>(col);
    } else {
        typename CONFIG_T::invn_t invn;
        invn.range(CONFIG_T::invn_t::width - 1, 0) = CONFIG_T::invn_raw;
        typename CONFIG_T::sum_t sum = 0;
        for (unsigned t = 0; t < CONFIG_T::n_tokens; t++) {
            #pragma HLS UNROLL
            sum += col[t];
        }
        out = sum * invn;
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void tf_token_pooling(const data_T data[CONFIG_T::n_tokens * CONFIG_T::dim], res_T res[CONFIG_T::dim]) {
    #pragma HLS INLINE off
    #pragma HLS ARRAY_PARTITION variable=data complete
    #pragma HLS ARRAY_PARTITION variable=res complete
Iterations:
    for (unsigned r = 0; r < CONFIG_T::iterations; r++) {
        #pragma HLS PIPELINE II=1
    Features:
        for (unsigned p = 0; p < CONFIG_T::features_parallel; p++) {
            #pragma HLS UNROLL
            const unsigned f = r * CONFIG_T::features_parallel + p;
            if (f < CONFIG_T::dim) {
                data_T col[CONFIG_T::n_tokens];
                #pragma HLS ARRAY_PARTITION variable=col complete
                for (unsigned t = 0; t < CONFIG_T::n_tokens; t++) {
                    #pragma HLS UNROLL
                    col[t] = data[t * CONFIG_T::dim + f];
                }
                tf_pool_feature<data_T, res_T, CONFIG_T>(col, res[f]);
            }
        }
    }
}

} // namespace nnet

#endif
