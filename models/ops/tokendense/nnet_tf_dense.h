// trigformer: Dense applied to every token, bit-exact with models.ops.dense.spec.dense_raw.
//   y[t][j] = cast<res_T>(b[j] + sum_i x[t][i] w[i][j]) with an exact accumulator (accum_t).
// Strategies, chosen by template specialisation (the pragmas of one never reach another):
//   latency:  weights are constants in logic; `tokens_parallel` tokens per cycle (see nnet_tf_common.h).
//   resource: weights in a ROM of depth `iterations` (one output block per word); every token computes one block
//             of outputs per cycle with shared multipliers, so the multipliers see the weight as a variable.
//   distributed_arithmetic: every token runs CONFIG_T::kernel, alkaid's shift-and-add graph of x W + b written into
//             nnet_code_gen.h (models/ops/da.py; the same graph as the RTL form); no multipliers, no weight arrays
//             read (w, b are passed and unused, so every strategy has one call). Reuse factor 1: II = 1.
#ifndef NNET_TF_DENSE_H_
#define NNET_TF_DENSE_H_

#include "nnet_tf_common.h"

namespace nnet {

struct tf_dense_config {
    static const unsigned n_tokens = 16;
    static const unsigned n_in = 16;
    static const unsigned n_out = 16;
    static const unsigned reuse_factor = 1;
    static const unsigned strategy = tf_strategy::latency;
    static const unsigned tokens_parallel = 16; // latency: tokens per iteration
    static const unsigned iterations = 1;       // the layer's II
    static const unsigned out_block = 16;       // resource: outputs per iteration (n_out <= out_block * iterations)
    static const unsigned block_words = 256;    // resource: out_block * n_in weights per ROM word
    typedef ap_fixed<8, 1> weight_t;
    typedef ap_fixed<8, 1> bias_t;
    typedef ap_fixed<24, 10> accum_t;
};

// One token: a pipelined region of n_in * n_out constant products.
template <class data_T, class res_T, typename CONFIG_T>
void tf_dense_token(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
                    const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
    #pragma HLS INLINE off
    #pragma HLS PIPELINE II=1
    tf_matvec<data_T, res_T, typename CONFIG_T::weight_t, typename CONFIG_T::bias_t, typename CONFIG_T::accum_t,
              CONFIG_T::n_in, CONFIG_T::n_out>(x, y, w, b);
}

template <class data_T, class res_T, typename CONFIG_T, int STRATEGY> struct tf_token_dense_impl;

template <class data_T, class res_T, typename CONFIG_T>
struct tf_token_dense_impl<data_T, res_T, CONFIG_T, tf_strategy::latency> {
    static void run(const data_T data[CONFIG_T::n_tokens * CONFIG_T::n_in],
                    res_T res[CONFIG_T::n_tokens * CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
                    const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
        #pragma HLS INLINE off
        #pragma HLS function_instantiate variable=w,b
        #pragma HLS ARRAY_PARTITION variable=w complete
        #pragma HLS ARRAY_PARTITION variable=b complete
        #pragma HLS ARRAY_PARTITION variable=data complete
        #pragma HLS ARRAY_PARTITION variable=res complete
    Iterations:
        for (unsigned r = 0; r < CONFIG_T::iterations; r++) {
            #pragma HLS PIPELINE II=1
        Tokens:
            for (unsigned p = 0; p < CONFIG_T::tokens_parallel; p++) {
                #pragma HLS UNROLL
                const unsigned t = r * CONFIG_T::tokens_parallel + p;
                if (t < CONFIG_T::n_tokens)
                    tf_dense_token<data_T, res_T, CONFIG_T>(&data[t * CONFIG_T::n_in], &res[t * CONFIG_T::n_out], w, b);
            }
        }
    }
};

// One token, one block of outputs (resource): out_block * n_in products with weights read from the ROM word r.
template <class data_T, class res_T, typename CONFIG_T>
void tf_dense_block(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out], unsigned r,
                    const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
                    const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
    #pragma HLS INLINE off
    #pragma HLS PIPELINE II=1
Outputs:
    for (unsigned o = 0; o < CONFIG_T::out_block; o++) {
        #pragma HLS UNROLL
        const unsigned j = r * CONFIG_T::out_block + o;
        if (j < CONFIG_T::n_out) {
            typename CONFIG_T::accum_t acc = b[j];
        Inputs:
            for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
                #pragma HLS UNROLL
                acc += x[i] * w[j * CONFIG_T::n_in + i];
            }
            y[j] = acc;
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
struct tf_token_dense_impl<data_T, res_T, CONFIG_T, tf_strategy::resource> {
    // w is stored output-major here: w[j * n_in + i], so one ROM word of `block_words` = out_block * n_in weights
    // is one block of outputs; iteration r reads word r and every token computes that block.
    static void run(const data_T data[CONFIG_T::n_tokens * CONFIG_T::n_in],
                    res_T res[CONFIG_T::n_tokens * CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
                    const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
        #pragma HLS INLINE off
        #pragma HLS function_instantiate variable=w,b
        #pragma HLS ARRAY_RESHAPE variable=w cyclic factor=CONFIG_T::block_words
        #pragma HLS RESOURCE variable=w core=ROM_nP_BRAM
        #pragma HLS ARRAY_PARTITION variable=b complete
        #pragma HLS ARRAY_PARTITION variable=data complete
        #pragma HLS ARRAY_PARTITION variable=res complete
    Blocks:
        for (unsigned r = 0; r < CONFIG_T::iterations; r++) {
            #pragma HLS PIPELINE II=1
        Tokens:
            for (unsigned t = 0; t < CONFIG_T::n_tokens; t++) {
                #pragma HLS UNROLL
                tf_dense_block<data_T, res_T, CONFIG_T>(&data[t * CONFIG_T::n_in], &res[t * CONFIG_T::n_out], r, w, b);
            }
        }
    }
};

// One token (distributed arithmetic): the kernel's exact sums, cast to res_T by its assignments.
template <class data_T, class res_T, typename CONFIG_T>
void tf_dense_token_da(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out]) {
    #pragma HLS INLINE off
    #pragma HLS PIPELINE II=1
    data_T xi[CONFIG_T::n_in]; // the generated kernel takes a non-const array: wiring only
    #pragma HLS ARRAY_PARTITION variable=xi complete
Inputs:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        xi[i] = x[i];
    }
    CONFIG_T::template kernel<data_T, res_T>(xi, y);
}

template <class data_T, class res_T, typename CONFIG_T>
struct tf_token_dense_impl<data_T, res_T, CONFIG_T, tf_strategy::distributed_arithmetic> {
    static void run(const data_T data[CONFIG_T::n_tokens * CONFIG_T::n_in],
                    res_T res[CONFIG_T::n_tokens * CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
                    const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
        #pragma HLS INLINE off
        #pragma HLS ARRAY_PARTITION variable=data complete
        #pragma HLS ARRAY_PARTITION variable=res complete
    Iterations:
        for (unsigned r = 0; r < CONFIG_T::iterations; r++) {
            #pragma HLS PIPELINE II=1
        Tokens:
            for (unsigned p = 0; p < CONFIG_T::tokens_parallel; p++) {
                #pragma HLS UNROLL
                const unsigned t = r * CONFIG_T::tokens_parallel + p;
                if (t < CONFIG_T::n_tokens)
                    tf_dense_token_da<data_T, res_T, CONFIG_T>(&data[t * CONFIG_T::n_in], &res[t * CONFIG_T::n_out]);
            }
        }
    }
};

template <class data_T, class res_T, typename CONFIG_T>
void tf_token_dense(const data_T data[CONFIG_T::n_tokens * CONFIG_T::n_in],
                    res_T res[CONFIG_T::n_tokens * CONFIG_T::n_out],
                    const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
                    const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
    #pragma HLS INLINE
    tf_token_dense_impl<data_T, res_T, CONFIG_T, CONFIG_T::strategy>::run(data, res, w, b);
}

} // namespace nnet

#endif
