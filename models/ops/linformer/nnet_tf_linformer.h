// trigformer: Linformer self-attention, bit-exact with models.ops.linformer.spec.LinformerSpec.forward.
//   x_k = cast<lin_t>(E^T x), x_v = cast<lin_t>(F^T x): the N tokens projected to n_kv = k < N along the token axis
//   (E, F: [N][k] constants, no bias, shared by the heads; per feature column a token-dense product N -> k);
//   then the attention of nnet_tf_mha.h with the query from x and the keys / values from x_k / x_v.
// Structure (DATAFLOW): fan-out -> to column-major -> E, F (tf_token_dense over the in_dim columns: the projection
// strategy) -> to token-major -> the attention's stages (tf_mha_stages).
#ifndef NNET_TF_LINFORMER_H_
#define NNET_TF_LINFORMER_H_

#include "nnet_tf_mha.h"

namespace nnet {

// Wiring only: [R][C] -> [C][R].
template <class T, unsigned R, unsigned C> void tf_transpose(const T a[R * C], T b[C * R]) {
    #pragma HLS INLINE off
    for (unsigned r = 0; r < R; r++) {
        #pragma HLS UNROLL
        for (unsigned c = 0; c < C; c++) {
            #pragma HLS UNROLL
            b[c * R + r] = a[r * C + c];
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void tf_linformer_attention(
    const data_T data[CONFIG_T::n_tokens * CONFIG_T::in_dim], res_T res[CONFIG_T::n_tokens * CONFIG_T::out_dim],
    const typename CONFIG_T::q_config::weight_t wq[CONFIG_T::in_dim * CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::q_config::bias_t bq[CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::k_config::weight_t wk[CONFIG_T::kv_dim * CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::k_config::bias_t bk[CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::v_config::weight_t wv[CONFIG_T::kv_dim * CONFIG_T::num_heads * CONFIG_T::value_dim],
    const typename CONFIG_T::v_config::bias_t bv[CONFIG_T::num_heads * CONFIG_T::value_dim],
    const typename CONFIG_T::o_config::weight_t wo[CONFIG_T::num_heads * CONFIG_T::value_dim * CONFIG_T::out_dim],
    const typename CONFIG_T::o_config::bias_t bo[CONFIG_T::out_dim],
    const typename CONFIG_T::e_config::weight_t we[CONFIG_T::n_tokens * CONFIG_T::n_kv],
    const typename CONFIG_T::e_config::bias_t be[CONFIG_T::n_kv],
    const typename CONFIG_T::f_config::weight_t wf[CONFIG_T::n_tokens * CONFIG_T::n_kv],
    const typename CONFIG_T::f_config::bias_t bf[CONFIG_T::n_kv],
    const typename CONFIG_T::softmax_config::exp_t
        exp_table[CONFIG_T::exp_copies * CONFIG_T::softmax_config::table_size],
    const typename CONFIG_T::softmax_config::inv_t
        inv_table[CONFIG_T::rows_parallel * CONFIG_T::softmax_config::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS DATAFLOW
    static const unsigned N = CONFIG_T::n_tokens;
    static const unsigned M = CONFIG_T::n_kv;
    static const unsigned D = CONFIG_T::in_dim;
    typedef typename CONFIG_T::lin_t lin_t;
    data_T xq[N * D], xe[N * D], xf[N * D], xe_cm[D * N], xf_cm[D * N];
    lin_t xk_cm[D * M], xv_cm[D * M], xk[M * D], xv[M * D];
    #pragma HLS ARRAY_PARTITION variable=xq complete
    #pragma HLS ARRAY_PARTITION variable=xe complete
    #pragma HLS ARRAY_PARTITION variable=xf complete
    #pragma HLS ARRAY_PARTITION variable=xe_cm complete
    #pragma HLS ARRAY_PARTITION variable=xf_cm complete
    #pragma HLS ARRAY_PARTITION variable=xk_cm complete
    #pragma HLS ARRAY_PARTITION variable=xv_cm complete
    #pragma HLS ARRAY_PARTITION variable=xk complete
    #pragma HLS ARRAY_PARTITION variable=xv complete

    tf_fanout3<data_T, N * D>(data, xq, xe, xf);
    tf_transpose<data_T, N, D>(xe, xe_cm);
    tf_transpose<data_T, N, D>(xf, xf_cm);
    tf_token_dense<data_T, lin_t, typename CONFIG_T::e_config>(xe_cm, xk_cm, we, be);
    tf_token_dense<data_T, lin_t, typename CONFIG_T::f_config>(xf_cm, xv_cm, wf, bf);
    tf_transpose<lin_t, D, M>(xk_cm, xk);
    tf_transpose<lin_t, D, M>(xv_cm, xv);
    tf_mha_stages<data_T, lin_t, res_T, CONFIG_T>(xq, xk, xv, res, wq, bq, wk, bk, wv, bv, wo, bo, exp_table,
                                                   inv_table);
}

} // namespace nnet

#endif
