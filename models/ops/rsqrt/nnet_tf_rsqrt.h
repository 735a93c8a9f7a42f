// trigformer: 1/sqrt(v) by exponent normalisation, bit-exact with models.ops.rsqrt.RsqrtSpec.lookup.
//   v in [2^e, 2^(e+1)) (a leading-one detector): entry = table[parity(e), top mant_bits of the mantissa];
//   1/sqrt(v) = entry * 2^-floor(e/2), returned as rs = entry << (half_max - floor(e/2)): one shift per call,
//   into rs_t = ap_ufixed<table bits + half_max - half_min, -half_min> (exact for every v).
#ifndef NNET_TF_RSQRT_H_
#define NNET_TF_RSQRT_H_

#include "nnet_tf_common.h"

namespace nnet {

struct tf_rsqrt_config {
    static const unsigned table_size = 1024;
    static const unsigned mant_bits = 9;
    static const int var_frac = 14;
    static const int half_min = -5;
    static const int half_max = 5;
    typedef ap_ufixed<24, 10, AP_RND_CONV, AP_SAT> var_t;
    typedef ap_ufixed<18, 0, AP_RND, AP_SAT> rsqrt_t;
    typedef ap_ufixed<28, 5> rs_t;
};

// v_raw: the raw bits of var + eps (>= 1). Returns 1/sqrt(v) as rs_t.
template <typename CONFIG_T, int VW>
typename CONFIG_T::rs_t tf_rsqrt(ap_uint<VW> v, const typename CONFIG_T::rsqrt_t table[CONFIG_T::table_size]) {
    #pragma HLS INLINE
    static const int T = CONFIG_T::mant_bits;
    static const int MW = (VW > T + 1 ? VW : T + 1) + 1;
    static const int RW = CONFIG_T::rsqrt_t::width;
    static const int SW = CONFIG_T::rs_t::width;
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
    ap_uint<MW> src = v;
    ap_uint<MW> mant_src = (p >= T) ? ap_uint<MW>(src >> (p - T)) : ap_uint<MW>(src << (T - p));
    ap_uint<T> mant = mant_src.range(T - 1, 0);
    ap_uint<T + 1> idx = (ap_uint<T + 1>(par) << T) | mant;
    ap_uint<SW> shifted = ap_uint<SW>(tf_raw_unsigned<RW>(table[idx])) << (CONFIG_T::half_max - half);
    typename CONFIG_T::rs_t rs;
    rs.range(SW - 1, 0) = shifted;
    return rs;
}

} // namespace nnet

#endif
