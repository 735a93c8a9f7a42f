// trigformer: quantized multi-head self-attention, bit-exact with sim.emulator (models.numerics).
//   Q,K,V = cast<qkv_t>(x W + b); S_h = cast<score_t>((Q_h K_h^T) * scale) with scale a fixed-point 1/sqrt(key_dim);
//   P_h = LUT softmax(S_h); C_h = cast<qkv_t>(P_h V_h); out = cast<res_T>(concat(C_h) W_o + b_o).
// Every accumulator is wide enough to be exact, so the only roundings are the casts named above.
#ifndef NNET_TF_MHA_H_
#define NNET_TF_MHA_H_

#include "nnet_tf_common.h"
#include "nnet_tf_softmax.h"

namespace nnet {

struct tf_mha_config {
    static const unsigned n_tokens = 16;
    static const unsigned in_dim = 16;
    static const unsigned num_heads = 2;
    static const unsigned key_dim = 8;
    static const unsigned out_dim = 16;
    static const unsigned reuse_factor = 1;
    static const unsigned strategy = tf_strategy::latency;
    static const unsigned multiplier_limit = 1;
    typedef ap_fixed<8, 1> weight_t;
    typedef ap_fixed<8, 1> bias_t;
    typedef ap_fixed<10, 5, AP_RND_CONV, AP_SAT> qkv_t;
    typedef ap_fixed<24, 10> proj_accum_t;
    typedef ap_fixed<24, 10> dot_t;
    typedef ap_ufixed<18, 1> scale_t;
    typedef ap_fixed<14, 6, AP_RND_CONV, AP_SAT> score_t;
    typedef ap_ufixed<10, 1, AP_RND_CONV, AP_SAT> prob_t;
    typedef ap_fixed<24, 10> ctx_accum_t;
    typedef ap_fixed<24, 10> out_accum_t;
    typedef tf_softmax_config softmax_config;
    static const unsigned long scale_raw = 92682;
};

// y[t][j] = cast<out_T>(b[j] + sum_d x[t][d] * w[d][j]) for every token t.
template <class x_T, class out_T, class w_T, class b_T, class acc_T, int N, int DIN, int DOUT>
void tf_token_dense(const x_T x[N * DIN], out_T y[N * DOUT], const w_T w[DIN * DOUT], const b_T b[DOUT]) {
    #pragma HLS INLINE
Tokens:
    for (int t = 0; t < N; t++) {
    Outputs:
        for (int j = 0; j < DOUT; j++) {
            acc_T acc = b[j];
        Inputs:
            for (int d = 0; d < DIN; d++) {
                acc += x[t * DIN + d] * w[d * DOUT + j];
            }
            y[t * DOUT + j] = acc;
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void tf_multi_head_attention(
    const data_T data[CONFIG_T::n_tokens * CONFIG_T::in_dim], res_T res[CONFIG_T::n_tokens * CONFIG_T::out_dim],
    const typename CONFIG_T::weight_t wq[CONFIG_T::in_dim * CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::bias_t bq[CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::weight_t wk[CONFIG_T::in_dim * CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::bias_t bk[CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::weight_t wv[CONFIG_T::in_dim * CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::bias_t bv[CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::weight_t wo[CONFIG_T::num_heads * CONFIG_T::key_dim * CONFIG_T::out_dim],
    const typename CONFIG_T::bias_t bo[CONFIG_T::out_dim],
    const typename CONFIG_T::softmax_config::exp_t exp_table[CONFIG_T::softmax_config::table_size],
    const typename CONFIG_T::softmax_config::inv_t inv_table[CONFIG_T::softmax_config::table_size]) {
    // II = reuse factor; the multiplier budget is shared out by the scheduler.
    // One instance per layer, so the weights become constants of that instance (as in hls4ml's dense_latency).
    #pragma HLS function_instantiate variable=wq,bq,wk,bk,wv,bv,wo,bo
    #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
    #pragma HLS ALLOCATION operation instances=mul limit=CONFIG_T::multiplier_limit
    #pragma HLS ARRAY_PARTITION variable=data complete
    #pragma HLS ARRAY_PARTITION variable=res complete
    if (CONFIG_T::strategy == tf_strategy::latency) {
        // weights in registers / LUT constants: every product in parallel
        #pragma HLS ARRAY_PARTITION variable=wq complete
        #pragma HLS ARRAY_PARTITION variable=wk complete
        #pragma HLS ARRAY_PARTITION variable=wv complete
        #pragma HLS ARRAY_PARTITION variable=wo complete
    } else {
        // weights in block memories, reuse_factor words per read port
        #pragma HLS ARRAY_RESHAPE variable=wq cyclic factor=CONFIG_T::weight_block_factor
        #pragma HLS ARRAY_RESHAPE variable=wk cyclic factor=CONFIG_T::weight_block_factor
        #pragma HLS ARRAY_RESHAPE variable=wv cyclic factor=CONFIG_T::weight_block_factor
        #pragma HLS ARRAY_RESHAPE variable=wo cyclic factor=CONFIG_T::weight_block_factor
    }

    static const int N = CONFIG_T::n_tokens;
    static const int D = CONFIG_T::in_dim;
    static const int H = CONFIG_T::num_heads;
    static const int K = CONFIG_T::key_dim;
    static const int HK = H * K;
    typedef typename CONFIG_T::qkv_t qkv_t;

    qkv_t q[N * HK], k[N * HK], v[N * HK], ctx[N * HK];
    typename CONFIG_T::score_t s[N];
    typename CONFIG_T::prob_t p[N];
    #pragma HLS ARRAY_PARTITION variable=q complete
    #pragma HLS ARRAY_PARTITION variable=k complete
    #pragma HLS ARRAY_PARTITION variable=v complete
    #pragma HLS ARRAY_PARTITION variable=ctx complete
    #pragma HLS ARRAY_PARTITION variable=s complete
    #pragma HLS ARRAY_PARTITION variable=p complete

    tf_token_dense<data_T, qkv_t, typename CONFIG_T::weight_t, typename CONFIG_T::bias_t,
                   typename CONFIG_T::proj_accum_t, N, D, HK>(data, q, wq, bq);
    tf_token_dense<data_T, qkv_t, typename CONFIG_T::weight_t, typename CONFIG_T::bias_t,
                   typename CONFIG_T::proj_accum_t, N, D, HK>(data, k, wk, bk);
    tf_token_dense<data_T, qkv_t, typename CONFIG_T::weight_t, typename CONFIG_T::bias_t,
                   typename CONFIG_T::proj_accum_t, N, D, HK>(data, v, wv, bv);

    typename CONFIG_T::scale_t scale;
    scale.range(CONFIG_T::scale_t::width - 1, 0) = CONFIG_T::scale_raw;
Heads:
    for (int h = 0; h < H; h++) {
    Queries:
        for (int i = 0; i < N; i++) {
        Keys:
            for (int j = 0; j < N; j++) {
                typename CONFIG_T::dot_t dot = 0;
                for (int c = 0; c < K; c++) {
                    dot += q[i * HK + h * K + c] * k[j * HK + h * K + c];
                }
                s[j] = dot * scale;
            }
            tf_softmax_row<typename CONFIG_T::score_t, typename CONFIG_T::prob_t, typename CONFIG_T::softmax_config>(
                s, p, exp_table, inv_table);
        Context:
            for (int c = 0; c < K; c++) {
                typename CONFIG_T::ctx_accum_t acc = 0;
                for (int j = 0; j < N; j++) {
                    acc += p[j] * v[j * HK + h * K + c];
                }
                ctx[i * HK + h * K + c] = acc;
            }
        }
    }
    tf_token_dense<qkv_t, res_T, typename CONFIG_T::weight_t, typename CONFIG_T::bias_t,
                   typename CONFIG_T::out_accum_t, N, HK, CONFIG_T::out_dim>(ctx, res, wo, bo);
}

} // namespace nnet

#endif
