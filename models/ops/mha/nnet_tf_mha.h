// trigformer: quantized multi-head attention, bit-exact with models.ops.mha.spec.MHASpec.forward.
//   Q = cast<qkv_t>(x_q W_q + b_q), K,V = cast<qkv_t>(x_kv W_{k,v} + b_{k,v}); S_h = Q_h K_h^T exact (dot_t);
//   P_h = LUT softmax(S_h) over the n_kv keys with 1/sqrt(key_dim) folded into the exp table;
//   C_h = cast<qkv_t>(P_h V_h); out = cast<res_T>(concat(C_h) W_o + b_o).
// Self-attention (tf_multi_head_attention): x_q = x_kv = the one input. Cross-attention (tf_cross_attention): the
// query (n_tokens x in_dim) and the key/value tensor (n_kv x kv_dim) are two inputs. Q and K have key_dim per
// head, V and the context value_dim. Every accumulator is wide enough to be exact, so the only roundings are the
// casts named above.
//
// Structure (DATAFLOW inside the layer, so the stages overlap across events):
//   fan-out -> Q, K, V projections (tf_token_dense: the projection strategy) -> to head-major
//   -> attention rows (one row = one query of one head: n_kv dot products, a softmax row, value_dim context sums;
//      `rows_parallel` rows per iteration, `iterations` iterations at II = 1) -> to token-major -> output projection.
#ifndef NNET_TF_MHA_H_
#define NNET_TF_MHA_H_

#include "nnet_tf_common.h"
#include "nnet_tf_dense.h"
#include "nnet_tf_softmax.h"

namespace nnet {

struct tf_mha_config {
    static const unsigned n_tokens = 16; // query tokens (= output tokens)
    static const unsigned n_kv = 16;     // key/value tokens
    static const unsigned in_dim = 16;   // query features
    static const unsigned kv_dim = 16;   // key/value features
    static const unsigned num_heads = 2;
    static const unsigned key_dim = 8;   // per head, Q and K
    static const unsigned value_dim = 8; // per head, V and the context
    static const unsigned out_dim = 16;
    static const unsigned reuse_factor = 1;
    static const unsigned rows_parallel = 32; // attention rows per iteration
    static const unsigned iterations = 1;     // the attention stage's II
    static const unsigned exp_copies = 256;   // rows_parallel * softmax_config::row_exp_copies
    static const int qk_mult = tf_mult::dsp;  // Q.K^T and P.V products: fabric or dsp (hls.multipliers)
    static const int pv_mult = tf_mult::dsp;
    typedef ap_fixed<10, 5, AP_RND_CONV, AP_SAT> qkv_t;
    typedef ap_fixed<24, 10> dot_t;
    typedef ap_ufixed<10, 1, AP_RND_CONV, AP_SAT> prob_t;
    typedef ap_fixed<24, 10> ctx_accum_t;
    typedef tf_dense_config q_config;
    typedef tf_dense_config k_config;
    typedef tf_dense_config v_config;
    typedef tf_dense_config o_config;
    typedef tf_softmax_config softmax_config;
};

// One attention row: query q[K] of head h against the head's keys k_h [M][K] and values v_h [M][V].
template <typename CONFIG_T>
void tf_attention_row(const typename CONFIG_T::qkv_t q[CONFIG_T::key_dim],
                      const typename CONFIG_T::qkv_t k_h[CONFIG_T::n_kv * CONFIG_T::key_dim],
                      const typename CONFIG_T::qkv_t v_h[CONFIG_T::n_kv * CONFIG_T::value_dim],
                      typename CONFIG_T::qkv_t ctx[CONFIG_T::value_dim],
                      const typename CONFIG_T::softmax_config::exp_t
                          exp_table[CONFIG_T::softmax_config::row_exp_copies * CONFIG_T::softmax_config::table_size],
                      const typename CONFIG_T::softmax_config::inv_t inv_table[CONFIG_T::softmax_config::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS PIPELINE II=1
    static const unsigned M = CONFIG_T::n_kv;
    static const unsigned K = CONFIG_T::key_dim;
    static const unsigned V = CONFIG_T::value_dim;
    typename CONFIG_T::dot_t s[M];
    typename CONFIG_T::prob_t p[M];
    #pragma HLS ARRAY_PARTITION variable=s complete
    #pragma HLS ARRAY_PARTITION variable=p complete
Keys:
    for (unsigned j = 0; j < M; j++) {
        #pragma HLS UNROLL
        typename CONFIG_T::dot_t dot = 0;
        for (unsigned c = 0; c < K; c++) {
            #pragma HLS UNROLL
            dot += tf_mul<CONFIG_T::qk_mult>::mul(q[c], k_h[j * K + c]);
        }
        s[j] = dot;
    }
    tf_softmax_row<typename CONFIG_T::dot_t, typename CONFIG_T::prob_t, typename CONFIG_T::softmax_config>(
        s, p, exp_table, inv_table);
Context:
    for (unsigned c = 0; c < V; c++) {
        #pragma HLS UNROLL
        typename CONFIG_T::ctx_accum_t acc = 0;
        for (unsigned j = 0; j < M; j++) {
            #pragma HLS UNROLL
            acc += tf_mul<CONFIG_T::pv_mult>::mul(p[j], v_h[j * V + c]);
        }
        ctx[c] = acc;
    }
}

// All heads x queries rows; arrays are head-major: q [H][N][K], k [H][M][K], v [H][M][V], ctx [H][N][V].
template <typename CONFIG_T>
void tf_attention(const typename CONFIG_T::qkv_t q[CONFIG_T::num_heads * CONFIG_T::n_tokens * CONFIG_T::key_dim],
                  const typename CONFIG_T::qkv_t k[CONFIG_T::num_heads * CONFIG_T::n_kv * CONFIG_T::key_dim],
                  const typename CONFIG_T::qkv_t v[CONFIG_T::num_heads * CONFIG_T::n_kv * CONFIG_T::value_dim],
                  typename CONFIG_T::qkv_t ctx[CONFIG_T::num_heads * CONFIG_T::n_tokens * CONFIG_T::value_dim],
                  const typename CONFIG_T::softmax_config::exp_t
                      exp_table[CONFIG_T::exp_copies * CONFIG_T::softmax_config::table_size],
                  const typename CONFIG_T::softmax_config::inv_t
                      inv_table[CONFIG_T::rows_parallel * CONFIG_T::softmax_config::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS ARRAY_PARTITION variable=q complete
    #pragma HLS ARRAY_PARTITION variable=k complete
    #pragma HLS ARRAY_PARTITION variable=v complete
    #pragma HLS ARRAY_PARTITION variable=ctx complete
    #pragma HLS ARRAY_PARTITION variable=exp_table block factor=CONFIG_T::exp_copies
    #pragma HLS ARRAY_PARTITION variable=inv_table block factor=CONFIG_T::rows_parallel
    static const unsigned N = CONFIG_T::n_tokens;
    static const unsigned M = CONFIG_T::n_kv;
    static const unsigned K = CONFIG_T::key_dim;
    static const unsigned V = CONFIG_T::value_dim;
    static const unsigned SIZE = CONFIG_T::softmax_config::table_size;
    static const unsigned ROW_COPIES = CONFIG_T::softmax_config::row_exp_copies;
Iterations:
    for (unsigned r = 0; r < CONFIG_T::iterations; r++) {
        #pragma HLS PIPELINE II=1
    Rows:
        for (unsigned p = 0; p < CONFIG_T::rows_parallel; p++) {
            #pragma HLS UNROLL
            const unsigned row = r * CONFIG_T::rows_parallel + p; // = head * N + query
            if (row < CONFIG_T::num_heads * N) {
                const unsigned h = row / N;
                tf_attention_row<CONFIG_T>(&q[row * K], &k[h * M * K], &v[h * M * V], &ctx[row * V],
                                           &exp_table[p * ROW_COPIES * SIZE], &inv_table[p * SIZE]);
            }
        }
    }
}

// Wiring only: token-major [N][H*K] <-> head-major [H][N][K].
template <class T, unsigned N, unsigned H, unsigned K>
void tf_to_heads(const T tm[N * H * K], T hm[H * N * K]) {
    #pragma HLS INLINE off
    for (unsigned t = 0; t < N; t++) {
        #pragma HLS UNROLL
        for (unsigned i = 0; i < H * K; i++) {
            #pragma HLS UNROLL
            hm[(i / K) * N * K + t * K + i % K] = tm[t * H * K + i];
        }
    }
}

template <class T, unsigned N, unsigned H, unsigned K>
void tf_from_heads(const T hm[H * N * K], T tm[N * H * K]) {
    #pragma HLS INLINE off
    for (unsigned t = 0; t < N; t++) {
        #pragma HLS UNROLL
        for (unsigned i = 0; i < H * K; i++) {
            #pragma HLS UNROLL
            tm[t * H * K + i] = hm[(i / K) * N * K + t * K + i % K];
        }
    }
}

template <class T, unsigned SIZE> void tf_fanout3(const T x[SIZE], T a[SIZE], T b[SIZE], T c[SIZE]) {
    #pragma HLS INLINE off
    for (unsigned i = 0; i < SIZE; i++) {
        #pragma HLS UNROLL
        a[i] = x[i];
        b[i] = x[i];
        c[i] = x[i];
    }
}

template <class T, unsigned SIZE> void tf_fanout2(const T x[SIZE], T a[SIZE], T b[SIZE]) {
    #pragma HLS INLINE off
    for (unsigned i = 0; i < SIZE; i++) {
        #pragma HLS UNROLL
        a[i] = x[i];
        b[i] = x[i];
    }
}

// The stages after the projections' inputs, shared by self- and cross-attention (inlined into their DATAFLOW
// region, so each call below is one process of it).
template <class q_T, class kv_T, class res_T, typename CONFIG_T>
void tf_mha_stages(
    const q_T xq[CONFIG_T::n_tokens * CONFIG_T::in_dim], const kv_T xk[CONFIG_T::n_kv * CONFIG_T::kv_dim],
    const kv_T xv[CONFIG_T::n_kv * CONFIG_T::kv_dim], res_T res[CONFIG_T::n_tokens * CONFIG_T::out_dim],
    const typename CONFIG_T::q_config::weight_t wq[CONFIG_T::in_dim * CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::q_config::bias_t bq[CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::k_config::weight_t wk[CONFIG_T::kv_dim * CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::k_config::bias_t bk[CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::v_config::weight_t wv[CONFIG_T::kv_dim * CONFIG_T::num_heads * CONFIG_T::value_dim],
    const typename CONFIG_T::v_config::bias_t bv[CONFIG_T::num_heads * CONFIG_T::value_dim],
    const typename CONFIG_T::o_config::weight_t wo[CONFIG_T::num_heads * CONFIG_T::value_dim * CONFIG_T::out_dim],
    const typename CONFIG_T::o_config::bias_t bo[CONFIG_T::out_dim],
    const typename CONFIG_T::softmax_config::exp_t
        exp_table[CONFIG_T::exp_copies * CONFIG_T::softmax_config::table_size],
    const typename CONFIG_T::softmax_config::inv_t
        inv_table[CONFIG_T::rows_parallel * CONFIG_T::softmax_config::table_size]) {
    #pragma HLS INLINE
    static const unsigned N = CONFIG_T::n_tokens;
    static const unsigned M = CONFIG_T::n_kv;
    static const unsigned H = CONFIG_T::num_heads;
    static const unsigned K = CONFIG_T::key_dim;
    static const unsigned V = CONFIG_T::value_dim;
    typedef typename CONFIG_T::qkv_t qkv_t;

    qkv_t q_tm[N * H * K], k_tm[M * H * K], v_tm[M * H * V], ctx_tm[N * H * V];
    qkv_t q[H * N * K], k[H * M * K], v[H * M * V], ctx[H * N * V];
    #pragma HLS ARRAY_PARTITION variable=q_tm complete
    #pragma HLS ARRAY_PARTITION variable=k_tm complete
    #pragma HLS ARRAY_PARTITION variable=v_tm complete
    #pragma HLS ARRAY_PARTITION variable=ctx_tm complete
    #pragma HLS ARRAY_PARTITION variable=q complete
    #pragma HLS ARRAY_PARTITION variable=k complete
    #pragma HLS ARRAY_PARTITION variable=v complete
    #pragma HLS ARRAY_PARTITION variable=ctx complete

    tf_token_dense<q_T, qkv_t, typename CONFIG_T::q_config>(xq, q_tm, wq, bq);
    tf_token_dense<kv_T, qkv_t, typename CONFIG_T::k_config>(xk, k_tm, wk, bk);
    tf_token_dense<kv_T, qkv_t, typename CONFIG_T::v_config>(xv, v_tm, wv, bv);
    tf_to_heads<qkv_t, N, H, K>(q_tm, q);
    tf_to_heads<qkv_t, M, H, K>(k_tm, k);
    tf_to_heads<qkv_t, M, H, V>(v_tm, v);
    tf_attention<CONFIG_T>(q, k, v, ctx, exp_table, inv_table);
    tf_from_heads<qkv_t, N, H, V>(ctx, ctx_tm);
    tf_token_dense<qkv_t, res_T, typename CONFIG_T::o_config>(ctx_tm, res, wo, bo);
}

// Self-attention: query, key and value are the one input.
template <class data_T, class res_T, typename CONFIG_T>
void tf_multi_head_attention(
    const data_T data[CONFIG_T::n_tokens * CONFIG_T::in_dim], res_T res[CONFIG_T::n_tokens * CONFIG_T::out_dim],
    const typename CONFIG_T::q_config::weight_t wq[CONFIG_T::in_dim * CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::q_config::bias_t bq[CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::k_config::weight_t wk[CONFIG_T::kv_dim * CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::k_config::bias_t bk[CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::v_config::weight_t wv[CONFIG_T::kv_dim * CONFIG_T::num_heads * CONFIG_T::value_dim],
    const typename CONFIG_T::v_config::bias_t bv[CONFIG_T::num_heads * CONFIG_T::value_dim],
    const typename CONFIG_T::o_config::weight_t wo[CONFIG_T::num_heads * CONFIG_T::value_dim * CONFIG_T::out_dim],
    const typename CONFIG_T::o_config::bias_t bo[CONFIG_T::out_dim],
    const typename CONFIG_T::softmax_config::exp_t
        exp_table[CONFIG_T::exp_copies * CONFIG_T::softmax_config::table_size],
    const typename CONFIG_T::softmax_config::inv_t
        inv_table[CONFIG_T::rows_parallel * CONFIG_T::softmax_config::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS DATAFLOW
    static const unsigned SIZE = CONFIG_T::n_tokens * CONFIG_T::in_dim;
    data_T xq[SIZE], xk[SIZE], xv[SIZE];
    #pragma HLS ARRAY_PARTITION variable=xq complete
    #pragma HLS ARRAY_PARTITION variable=xk complete
    #pragma HLS ARRAY_PARTITION variable=xv complete

    tf_fanout3<data_T, SIZE>(data, xq, xk, xv);
    tf_mha_stages<data_T, data_T, res_T, CONFIG_T>(xq, xk, xv, res, wq, bq, wk, bk, wv, bv, wo, bo, exp_table,
                                                   inv_table);
}

// Cross-attention: the query from one input, key and value from the other (n_kv tokens of kv_dim features).
template <class q_T, class kv_T, class res_T, typename CONFIG_T>
void tf_cross_attention(
    const q_T query[CONFIG_T::n_tokens * CONFIG_T::in_dim], const kv_T kv[CONFIG_T::n_kv * CONFIG_T::kv_dim],
    res_T res[CONFIG_T::n_tokens * CONFIG_T::out_dim],
    const typename CONFIG_T::q_config::weight_t wq[CONFIG_T::in_dim * CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::q_config::bias_t bq[CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::k_config::weight_t wk[CONFIG_T::kv_dim * CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::k_config::bias_t bk[CONFIG_T::num_heads * CONFIG_T::key_dim],
    const typename CONFIG_T::v_config::weight_t wv[CONFIG_T::kv_dim * CONFIG_T::num_heads * CONFIG_T::value_dim],
    const typename CONFIG_T::v_config::bias_t bv[CONFIG_T::num_heads * CONFIG_T::value_dim],
    const typename CONFIG_T::o_config::weight_t wo[CONFIG_T::num_heads * CONFIG_T::value_dim * CONFIG_T::out_dim],
    const typename CONFIG_T::o_config::bias_t bo[CONFIG_T::out_dim],
    const typename CONFIG_T::softmax_config::exp_t
        exp_table[CONFIG_T::exp_copies * CONFIG_T::softmax_config::table_size],
    const typename CONFIG_T::softmax_config::inv_t
        inv_table[CONFIG_T::rows_parallel * CONFIG_T::softmax_config::table_size]) {
    #pragma HLS INLINE off
    #pragma HLS DATAFLOW
    static const unsigned SIZE = CONFIG_T::n_kv * CONFIG_T::kv_dim;
    kv_T xk[SIZE], xv[SIZE];
    #pragma HLS ARRAY_PARTITION variable=xk complete
    #pragma HLS ARRAY_PARTITION variable=xv complete

    tf_fanout2<kv_T, SIZE>(kv, xk, xv);
    tf_mha_stages<q_T, kv_T, res_T, CONFIG_T>(query, xk, xv, res, wq, bq, wk, bk, wv, bv, wo, bo, exp_table,
                                              inv_table);
}

} // namespace nnet

#endif
