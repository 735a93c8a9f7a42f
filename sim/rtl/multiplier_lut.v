`timescale 1ns / 1ps

// A LUT-bound variable product (hls.multipliers), same ports, parameters and result as alkaid's `multiplier` (out =
// the low BW_OUT bits of the exact product, extended by its sign when wider). Written as rows of the narrower operand
// y (the other, A, read as two's complement) and two-operand adders (each its own carry chain, only as wide as its
// operands, nothing above BW_OUT), because Yosys maps a plain `*` to LUT logic up to 2-3x larger
// (benchmarks/lut_multiplier.py). Rows, in one of three forms:
//   Booth, standard (WB even): radix-4 digits d (-2..2) of B, one row (|d| A) ^ neg per digit (5 inputs per bit);
//   Booth, b0 + 2Q (WB odd): y = b0 + 2 Q, the row b0 ? A : 0, then one row per radix-4 digit of Q;
//   array (benchmarks only, FORCE = 1): row j = y[j] ? A : 0, the sign row (signed y) as ~(y[j] ? A : 0).
// Adders: a chain (used): row r is added to the sum of rows 0..r-1, so each sum bit is one LUT (the previous sum's
// bit and the row bit's inputs) and the carry chain's other operand is that previous sum bit, a wire; or a balanced
// tree (benchmarks, FORCE 1 and 2), which adds rows to rows and makes Yosys build the rows' bits in LUTs of their own.
// A row's +1 (two's complement) is the carry-in of the adder that adds it (tree: the adder where that row is the
// lowest of the right operand). Rows and sums are sign- or zero-extended and cut to P bits by assignment, on purpose;
// `nd` is one flat array whose entries feed each other (acyclic). alkaid's Verilator binder builds with -Wall and
// warnings fatal.
/* verilator lint_off WIDTHEXPAND */
/* verilator lint_off WIDTHTRUNC */
/* verilator lint_off UNOPTFLAT */
(* use_dsp = "no" *)
module multiplier_lut #(
    parameter BW_INPUT0 = 32,
    parameter BW_INPUT1 = 32,
    parameter SIGNED0 = 0,
    parameter SIGNED1 = 0,
    parameter BW_OUT = 32
) (
    input [BW_INPUT0-1:0] in0,
    input [BW_INPUT1-1:0] in1,
    output [BW_OUT-1:0] out
);
  localparam SWAP = BW_INPUT1 > BW_INPUT0;  // recode the narrower operand: fewer rows
  localparam WX = SWAP ? BW_INPUT1 : BW_INPUT0;
  localparam WY = SWAP ? BW_INPUT0 : BW_INPUT1;
  localparam SX = SWAP ? SIGNED1 : SIGNED0;
  localparam SY = SWAP ? SIGNED0 : SIGNED1;
  localparam FULL = BW_INPUT0 + BW_INPUT1;
  localparam P = BW_OUT < FULL ? BW_OUT : FULL;  // the product bits computed (mod 2**P)
  localparam WA = WX + (SX ? 0 : 1);  // both operands as two's complement
  localparam WB = WY + (SY ? 0 : 1);
  localparam KQ = WB > 2 ? WB / 2 : 1;  // Booth digits of Q = B >> 1 (WB - 1 bits): ceil((WB - 1) / 2)

  wire [WX-1:0] x = SWAP ? in1 : in0;
  wire [WY-1:0] y = SWAP ? in0 : in1;
  wire [WA+1:0] ae;  // ae[i + 1] = A[i], A[-1] = 0, sign-extended by one
  wire [2*KQ+1:0] be;  // B sign-extended
  generate
    if (SX) begin : ax_s
      assign ae = {x[WX-1], x, 1'b0};
    end else begin : ax_u
      assign ae = {2'b00, x, 1'b0};
    end
    if (SY) begin : by_s
      assign be = {{(2*KQ+2-WY){y[WY-1]}}, y};
    end else begin : by_u
      assign be = {{(2*KQ+2-WY){1'b0}}, y};
    end
  endgenerate

  // the tree: level l has nodes(l) nodes; node (l, i) sums rows [i << l, min((i + 1) << l, NR) - 1]
  function integer nodes(input integer l);
    nodes = (NR + (1 << l) - 1) >> l;
  endfunction
  function integer base(input integer l);  // index of node (l, 0) in `nd`
    integer j;
    begin
      base = 0;
      for (j = 0; j < l; j = j + 1) base = base + nodes(j);
    end
  endfunction
  function integer levels(input integer n);
    integer j;
    begin
      levels = 0;
      for (j = 1; j < n; j = j * 2) levels = levels + 1;
    end
  endfunction
  function integer row_lo(input integer r);  // column of a row's bit 0
    row_lo = ARRAY ? r : STD ? 2 * r : r == 0 ? 0 : 2 * r - 1;
  endfunction
  function integer clip(input integer t);
    clip = t < P ? t : P;
  endfunction
  function integer row_top(input integer r);  // columns below the row's sign extension
    row_top = clip(ARRAY ? r + WA : STD ? 2 * r + WA + 1 : r == 0 ? WA : 2 * r + WA);
  endfunction

  // FORCE (benchmarks, tests): 0 the rule below, 1 array tree, 2 Booth tree, 3 standard-Booth chain, 4 b0 + 2Q chain.
  // Used: a chain, its rows Booth digits of the standard kind when WB is even (WB / 2 rows, b0 + 2Q would need one
  // more) and b0 + 2Q when WB is odd (as many rows, the first a plain AND): each adder adds one row to the running
  // sum, so its sum LUT reads one sum bit and one row bit's 5 inputs and its carry-chain operand is the sum bit
  // itself. Yosys 0.23 maps that to one LUT per sum bit; the balanced tree adds rows to rows, whose bits Yosys builds
  // in LUTs of their own (or MUXF-wide cones) before the adder (benchmarks/lut_multiplier.py, README).
  localparam FORCE = 0;
  localparam ARRAY = WY > 1 && FORCE == 1;
  localparam CHAIN = FORCE == 0 || FORCE >= 3;
  localparam STD = (FORCE == 0 && WB % 2 == 0) || FORCE == 3;  // standard Booth rows (chain only: every row has a +1)
  localparam KS = (WB + 1) / 2;  // standard Booth digits of B (B[-1] = 0)
  localparam NR = ARRAY ? WY : STD ? KS : KQ + 1;  // array: one row per bit of y; b0 + 2Q: b0 * A, then one per digit
  localparam NL = levels(NR);
  wire [P-1:0] nd[0:(CHAIN ? 2 * NR : base(NL + 1)) - 1];  // rows, then the sums (tree levels, or the chain's)
  wire [NR-1:0] neg;  // row r's +1: the sign of its digit (the sign row of the array)
  wire [2*KS:0] bs;  // bs[j + 1] = B[j], B[-1] = 0

  genvar l, i;
  generate
    assign bs = {be, 1'b0};
    // rows
    if (ARRAY) begin : array
      for (i = 0; i < NR; i = i + 1) begin : row
        wire n = SY && i == WY - 1 ? y[i] : 1'b0;  // the sign row: - y[i] * A = ~(y[i] * A) + 1
        wire [WA-1:0] bits = (ae[WA:1] & {WA{y[i]}}) ^ {WA{n}};
        assign neg[i] = n;
        assign nd[i] = $signed(bits) <<< i;
      end
    end else begin : booth
      if (!STD) begin : b0row
        assign nd[0] = $signed(ae[WA:1] & {WA{be[0]}});
        assign neg[0] = 1'b0;
      end
      for (i = STD ? 0 : 1; i < NR; i = i + 1) begin : row
        // digit (b2 b1 b0): standard, B[2i+1] B[2i] B[2i-1]; b0 + 2Q, Q's digit i - 1: B[2i] B[2i-1] B[2i-2]
        wire b2 = STD ? bs[2*i+2] : be[2*i], b1 = STD ? bs[2*i+1] : be[2*i-1];
        wire b0 = STD ? bs[2*i] : i > 1 ? be[2*i-2] : 1'b0;
        wire one = b1 ^ b0;
        wire two = (b2 & ~b1 & ~b0) | (~b2 & b1 & b0);
        wire [WA:0] bits = ((one ? ae[WA+1:1] : {(WA + 1) {1'b0}}) | (two ? ae[WA:0] : {(WA + 1) {1'b0}})) ^ {(WA + 1) {b2}};
        assign neg[i] = b2;
        if (row_lo(i) < P) begin : in
          assign nd[i] = $signed(bits) <<< row_lo(i);
        end else begin : out
          assign nd[i] = {P{1'b0}};
        end
      end
    end
    // adders
    if (CHAIN) begin : chain
      // nd[NR + r] = rows 0..r; the sum before row 0 is 0 (b0 + 2Q: row 0 itself, its +1 is 0)
      for (i = 0; i < NR; i = i + 1) begin : acc
        localparam LO = row_lo(i);
        localparam TOP = clip(row_top(i) + 1);  // |rows 0..i| < 2**(TOP - 1)
        if (i == 0 && !STD) begin : first
          assign nd[NR] = nd[0];
        end else if (LO >= P) begin : low
          assign nd[NR+i] = nd[NR+i-1];
        end else begin : add
          multiplier_lut_add #(P, LO, TOP) adder(i == 0 ? {P{1'b0}} : nd[NR+i-1], nd[i], neg[i], nd[NR+i]);
        end
      end
    end else begin : tree
      for (l = 1; l <= NL; l = l + 1) begin : lvl
        for (i = 0; i < nodes(l); i = i + 1) begin : node
          localparam LEFT = base(l - 1) + 2 * i, RIGHT = LEFT + 1;
          localparam LAST = ((i + 1) << l) - 1 < NR - 1 ? ((i + 1) << l) - 1 : NR - 1;
          localparam LO = row_lo((2 * i + 1) << (l - 1));  // the right operand's lowest column
          localparam TOP = clip(row_top(LAST) + 1);  // |sum of rows| < 2**(TOP - 1) (module doc)
          if (2 * i + 1 >= nodes(l - 1) || LO >= P) begin : pass  // no right operand, or it lies above bit P
            assign nd[base(l)+i] = nd[LEFT];
          end else begin : add
            multiplier_lut_add #(P, LO, TOP) adder(nd[LEFT], nd[RIGHT], neg[(2*i+1)<<(l-1)], nd[base(l)+i]);
          end
        end
      end
    end
    localparam RESULT = CHAIN ? 2 * NR - 1 : base(NL);
    if (BW_OUT > P && (SIGNED0 || SIGNED1)) begin : sext
      assign out = $signed(nd[RESULT]);
    end else begin : zext
      assign out = nd[RESULT];
    end
  endgenerate
endmodule

// One adder of multiplier_lut, chain or tree: bits LO..TOP-1 of a + b + cin, over a's bits below LO (b's are zero
// there: the row, or the right subtree's lowest row, starts at column LO), sign-extended to P bits.
/* verilator lint_off DECLFILENAME */
module multiplier_lut_add #(
    parameter P = 8,
    parameter LO = 0,
    parameter TOP = 8
) (
    input [P-1:0] a,
    input [P-1:0] b,
    input cin,
    output [P-1:0] s
);
  wire [TOP-LO-1:0] sum = a[TOP-1:LO] + b[TOP-1:LO] + cin;
  generate
    if (LO > 0) begin : lowbits
      assign s = $signed({sum, a[LO-1:0]});
    end else begin : nolow
      assign s = $signed(sum);
    end
  endgenerate
endmodule
/* verilator lint_on DECLFILENAME */
/* verilator lint_on UNOPTFLAT */
/* verilator lint_on WIDTHTRUNC */
/* verilator lint_on WIDTHEXPAND */
