// trigformer RTL co-simulation testbench (Verilator): one input word per clock (II = 1) with in_valid high, outputs
// collected on the clocks where out_valid is high. Usage: ./Vtb WAIT in.bin out.bin
//   in.bin : events x IN_WORDS little-endian uint32 words holding model_inp (bit 0 = word 0 bit 0)
//   out.bin: events x (OUT_WORDS + TRACE_WORDS) words: model_out, then trace_out (every layer's output)
//   WAIT   : clocks to wait for the outputs after the last input
// Cycle 0 is the clock edge at which the first unit's input register captures event 0 (with in_valid); the latency
// printed ("measured latency L") is the edge after which out_valid is first high: input register to output
// register. The k-th valid output is event k's, so a wrong valid pipeline shows as a data mismatch.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <type_traits>
#include <vector>
#include <verilated.h>
#include VTOP_HEADER

static constexpr int IN_WORDS = (TB_IN_BITS + 31) / 32, OUT_WORDS = (TB_OUT_BITS + 31) / 32;
static constexpr int TRACE_WORDS = (TB_TRACE_BITS + 31) / 32, ROW = OUT_WORDS + TRACE_WORDS;

template <typename T> static void set_port(T &port, const uint32_t *w, int words) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t v = w[0];
        if constexpr (sizeof(T) > 4) v |= words > 1 ? (uint64_t)w[1] << 32 : 0;
        port = (T)v;
    } else {
        for (int i = 0; i < words; ++i) port[i] = w[i];
    }
}
template <typename T> static void get_port(const T &port, uint32_t *w, int words) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t v = (uint64_t)port;
        w[0] = (uint32_t)v;
        if (words > 1) w[1] = (uint32_t)(v >> 32);
    } else {
        for (int i = 0; i < words; ++i) w[i] = port[i];
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s wait in.bin out.bin\n", argv[0]);
        return 2;
    }
    const long wait = std::atol(argv[1]);
    FILE *fi = std::fopen(argv[2], "rb");
    if (!fi) {
        std::perror(argv[2]);
        return 2;
    }
    std::vector<uint32_t> in;
    uint32_t buf[4096];
    size_t got;
    while ((got = std::fread(buf, 4, 4096, fi)) > 0) in.insert(in.end(), buf, buf + got);
    std::fclose(fi);
    const long n = (long)(in.size() / IN_WORDS);
    std::vector<uint32_t> out((size_t)n * ROW, 0);
    auto ctx = std::make_unique<VerilatedContext>();
    auto dut = std::make_unique<VTOP>(ctx.get());
    dut->clk = 0;
    dut->in_valid = 0;
    dut->eval();
    auto t0 = std::chrono::steady_clock::now();
    long k = 0, first_valid = -1;
    for (long t = 0; k < n && t < n + wait; ++t) {
        dut->in_valid = t < n;
        if (t < n) set_port(dut->model_inp, &in[(size_t)t * IN_WORDS], IN_WORDS);
        dut->clk = 1;
        dut->eval();  // edge t: event t enters the first input register
        if (dut->out_valid) {
            if (first_valid < 0) first_valid = t;
            get_port(dut->model_out, &out[(size_t)k * ROW], OUT_WORDS);
#if TB_TRACE_BITS > 0
            get_port(dut->trace_out, &out[(size_t)k * ROW + OUT_WORDS], TRACE_WORDS);
#endif
            ++k;
        }
        dut->clk = 0;
        dut->eval();
    }
    if (k < n) {
        std::fprintf(stderr, "out_valid was high on %ld of %ld events' clocks\n", k, n);
        return 3;
    }
    std::fprintf(stderr, "measured latency %ld\n", first_valid);
    auto t1 = std::chrono::steady_clock::now();
    dut->final();
    std::fprintf(stderr, "%ld events in %.3f s\n", n, std::chrono::duration<double>(t1 - t0).count());
    FILE *fo = std::fopen(argv[3], "wb");
    std::fwrite(out.data(), 4, out.size(), fo);
    std::fclose(fo);
    return 0;
}
