// winograd_conv's kernel: F(MR x MC, 3x3) on the trunk's grid (see direct_conv.h and resnet.cpp), with
// tiles of MR = 4 or 2 rows (frequency) by MC = 4 columns (time).
//
// Tiles of MR x MC outputs cover each item's F rows of the grid (F a multiple of MR) and all its columns,
// the margin column included (masked like direct_conv's); the margin row F is written as zeros. A tile
// reads an (MR + 2) x (MC + 2) block of points. With F(2, 3) each output is computed from its own 3x3
// window only (B^T's and A^T's zeros see to that); with F(4, 3) the other points of the block enter its
// rounding (they cancel only in exact arithmetic). So that an item's outputs are the same bits alone and
// in any batch, tiles start on each item's first row and column, never read another item's rows (F is a
// multiple of MR), and read every column past the grid's last (the margin) as zero, which is what lies
// there when the item is alone or when it is padded in a longer batch. Tiles are numbered item by item,
// row-major, and W consecutive ones make a vector, which continues on the next tile row where one ends
// (short clips have rows of a few vectors: a partial vector per row would waste up to a fifth of the
// products). A few vectors make a block, which one thread carries through all three steps while it is in
// cache: the input transform of every channel (V = B^T d B, (MR + 2)(MC + 2) values per tile and channel),
// as many products [O, C] x [C, tiles] in registers as in direct_conv, and the output transform
// (A^T M A) with the bias, residual, activation and mask.
#include "conv_kernel.h"
#include "workers.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

namespace wespeaker {
namespace {

template <class V, size_t... I>
__attribute__((always_inline)) inline V even_lanes(V a, V b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (2 * I)...);
}

template <class V, size_t... I>
__attribute__((always_inline)) inline V odd_lanes(V a, V b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (2 * I + 1)...);
}

// Lanes 1 .. W - 1 of a, then lane 0 of b: a moved down by one lane.
template <class V, size_t... I>
__attribute__((always_inline)) inline V next_lane(V a, V b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (I + 1)...);
}

// {0, 1, 2, ...}: each lane's index.
template <class V, size_t... I>
constexpr V lane_indices(std::index_sequence<I...>) {
  return V{float(I)...};
}

// a[0], b[0], a[1], b[1], ... from lane `from / 2` of each on.
template <class V, size_t from, size_t... I>
__attribute__((always_inline)) inline V interleave(V a, V b, std::index_sequence<I...>) {
  constexpr size_t W = sizeof(V) / sizeof(float);
  return __builtin_shufflevector(a, b, ((I & 1) * W + (from + I) / 2)...);
}

// The 1-D minimal filtering F(M, 3): B^T d (input, M + 2 points), A^T m (output, M values). F(4, 3) is Lavin
// and Gray's (points 0, ±1, ±2, ∞), written in its usual factored form. The filter transform G is
// winograd_filter() (direct_conv.cpp).
template <int M>
struct Minimal;

template <>
struct Minimal<2> {
  template <class V>
  __attribute__((always_inline)) static void input(const V* d, V* t) {
    t[0] = d[0] - d[2];
    t[1] = d[1] + d[2];
    t[2] = d[2] - d[1];
    t[3] = d[1] - d[3];
  }
  template <class V>
  __attribute__((always_inline)) static void output(const V* m, V* y) {
    y[0] = m[0] + m[1] + m[2];
    y[1] = m[1] - m[2] - m[3];
  }
};

template <>
struct Minimal<4> {
  template <class V>
  __attribute__((always_inline)) static void input(const V* d, V* t) {
    const V four = 4.0f - V{}, five = 5.0f - V{};
    const V a = d[4] - four * d[2], b = d[3] - four * d[1];
    const V c = d[4] - d[2], e = d[3] - d[1];
    t[0] = (four * d[0] - five * d[2]) + d[4];
    t[1] = a + b;
    t[2] = a - b;
    t[3] = c + (e + e);
    t[4] = c - (e + e);
    t[5] = (four * d[1] - five * d[3]) + d[5];
  }
  template <class V>
  __attribute__((always_inline)) static void output(const V* m, V* y) {
    const V four = 4.0f - V{}, eight = 8.0f - V{};
    const V p12 = m[1] + m[2], m12 = m[1] - m[2], p34 = m[3] + m[4], m34 = m[3] - m[4];
    y[0] = m[0] + p12 + p34;
    y[1] = m12 + (m34 + m34);
    y[2] = p12 + four * p34;
    y[3] = (m12 + eight * m34) + m[5];
  }
};

// Outputs per tile along time: F(4, 3) at every level (frequency: 4 where the bins divide by 4, else 2).
constexpr int MC = 4;

// The tiling of a job's grid: tile rows are numbered over all items, tile_rows (F / MR) per item.
struct Tiling {
  int64_t tile_rows, tile_cols, tiles, vectors;
};

template <int MR>
Tiling tiling(const ConvJob& j, int lanes) {
  Tiling t{(j.item_rows - 1) / MR, (j.cols + MC - 1) / MC, 0, 0};
  t.tiles = j.n / (j.item_rows * j.cols) * t.tile_rows * t.tile_cols;
  t.vectors = (t.tiles + lanes - 1) / lanes;
  return t;
}

// The part of a vector that lies in one tile row: lanes [from, to), lane l at tile column t0 + l, its
// outputs at grid rows row .. row + MR - 1 and columns MC (t0 + l) .. MC (t0 + l) + MC - 1. t0 is negative
// for the part that continues a vector on the next tile row.
struct Segment {
  int64_t row, t0;
  int from, to;
};

// The segments of vector g, at most W + 1 (a tile row can be a single tile wide); returns how many.
template <int MR, int W>
int segments(const ConvJob& j, const Tiling& t, int64_t g, Segment* out) {
  const int64_t first = g * W, end = std::min(first + W, t.tiles);
  int count = 0;
  for (int64_t r = first / t.tile_cols; r * t.tile_cols < end; ++r) {
    const int64_t t0 = first - r * t.tile_cols, item = r / t.tile_rows, row = r % t.tile_rows;
    out[count++] = {item * j.item_rows + MR * row, t0, int(std::max<int64_t>(0, -t0)),
                    int(std::min<int64_t>(W, t.tile_cols - t0))};
  }
  return count;
}

// Where output row a of a segment's tiles goes: lanes [from, to) of the MC W output columns from pixel
// `first` on, i.e. the segment's tiles less the columns past the grid's.
struct OutputSpan {
  int64_t first, from, to;
};

OutputSpan output_span(const ConvJob& j, const Segment& sg, int a) {
  return {(sg.row + a) * j.cols + MC * sg.t0, MC * sg.from, std::min<int64_t>(MC * sg.to, j.cols - MC * sg.t0)};
}

// Points 4 t - 1 .. 4 t + 4 of W consecutive tiles t of the grid row at q + 1 (q: the point before the
// first tile's first column), as 6 vectors: c[k] lane l holds q[4 l + k].
template <class V>
__attribute__((always_inline)) inline void load_columns(const float* q, V* c) {
  constexpr int W = sizeof(V) / sizeof(float);
  constexpr auto lanes = std::make_index_sequence<W>{};
  const V a0 = load<V>(q), a1 = load<V>(q + W), a2 = load<V>(q + 2 * W), a3 = load<V>(q + 3 * W);
  const V e01 = even_lanes(a0, a1, lanes), o01 = odd_lanes(a0, a1, lanes);
  const V e23 = even_lanes(a2, a3, lanes), o23 = odd_lanes(a2, a3, lanes);
  c[0] = even_lanes(e01, e23, lanes);
  c[1] = even_lanes(o01, o23, lanes);
  c[2] = odd_lanes(e01, e23, lanes);
  c[3] = odd_lanes(o01, o23, lanes);
  // The last two points of lane l are the first two of lane l + 1.
  c[4] = next_lane(c[0], q[4 * W] - V{}, lanes);
  c[5] = next_lane(c[1], q[4 * W + 1] - V{}, lanes);
}

// How one vector of tiles reads its points: where each of its segments starts (the point before its first
// tile's first column, one row above), and, unless the vector is one whole segment that reads no column past
// the grid's, which lanes each segment keeps of each column of points.
template <class V>
struct VectorReads {
  using Mask = decltype(V{} < V{});
  int count;
  bool simple;
  int64_t first[sizeof(V) / sizeof(float) + 1];
  Mask keep[sizeof(V) / sizeof(float) + 1][MC + 2];
};

template <class V>
__attribute__((always_inline)) inline void plan_reads(const ConvJob& j, const Segment* seg, int count,
                                                      VectorReads<V>& r) {
  constexpr int W = sizeof(V) / sizeof(float);
  constexpr V lane = lane_indices<V>(std::make_index_sequence<W>{});
  r.count = count;
  r.simple = count == 1 && seg[0].from == 0 && seg[0].to == W && MC * (seg[0].t0 + W - 1) + MC < j.cols;
  for (int s = 0; s < count; ++s) {
    r.first[s] = (seg[s].row - 1) * j.cols + MC * seg[s].t0 - 1;
    const auto inside = (lane >= float(seg[s].from)) & (lane < float(seg[s].to));
    // Points at or past the grid's last column (the margin, zero) read as zero: there the next grid row
    // begins, which a batch would have padded.
    const V column = float(MC) * (lane + float(seg[s].t0)) - 1.0f;
    for (int k = 0; k < MC + 2; ++k) r.keep[s][k] = inside & (column + float(k) < float(j.cols));
  }
}

// One channel of one vector of tiles, transformed: out[k * plane + lane], k = (MC + 2) a + b for the row a
// of B^T d and the column b of d B. src: the channel's first point.
template <class V, int MR>
__attribute__((always_inline)) inline void transform_input(const ConvJob& j, const float* src,
                                                           const VectorReads<V>& r, float* out, int64_t plane) {
  constexpr int NR = MR + 2, NC = MC + 2;
  V d[NR][NC];  // per input row i of the tiles, its points MC t - 1 .. MC t + MC
  for (int i = 0; i < NR; ++i) {
    load_columns<V>(src + r.first[0] + i * j.cols, d[i]);
    if (!r.simple) {
      for (int k = 0; k < NC; ++k) d[i][k] = r.keep[0][k] ? d[i][k] : V{};
    }
  }
  for (int s = 1; s < r.count; ++s) {
    for (int i = 0; i < NR; ++i) {
      V e[NC];
      load_columns<V>(src + r.first[s] + i * j.cols, e);
      for (int k = 0; k < NC; ++k) d[i][k] = r.keep[s][k] ? e[k] : d[i][k];
    }
  }
  V u[NR][NC];  // d B per row
  for (int i = 0; i < NR; ++i) Minimal<MC>::input(d[i], u[i]);
  for (int b = 0; b < NC; ++b) {
    V col[NR], v[NR];
    for (int i = 0; i < NR; ++i) col[i] = u[i][b];
    Minimal<MR>::input(col, v);
    for (int a = 0; a < NR; ++a) store(out + (a * NC + b) * plane, v[a]);
  }
}

// Output channel o of one vector of tiles from their products m[k * OB * tb]: A^T M A, the bias and
// direct_conv's epilogue, written where each segment's tiles lie inside the grid.
template <class V, int MR, int OB>
__attribute__((always_inline)) inline void transform_output(const ConvJob& j, const float* m, int64_t tb, int o,
                                                            const Segment* seg, int count) {
  constexpr int W = sizeof(V) / sizeof(float), NR = MR + 2, NC = MC + 2;
  constexpr auto lanes = std::make_index_sequence<W>{};
  V s[NR][MC];  // per row of M: M A
  for (int a = 0; a < NR; ++a) {
    V row[NC];
    for (int b = 0; b < NC; ++b) row[b] = load<V>(m + (a * NC + b) * OB * tb);
    Minimal<MC>::output(row, s[a]);
  }
  const V bias = j.bias[o] - V{};
  V y[MR][MC];  // [output row][output column phase]
  for (int b = 0; b < MC; ++b) {
    V col[NR], z[MR];
    for (int a = 0; a < NR; ++a) col[a] = s[a][b];
    Minimal<MR>::output(col, z);
    for (int a = 0; a < MR; ++a) y[a][b] = bias + z[a];
  }
  for (int a = 0; a < MR; ++a) {
    // The 4 phases interleaved into 4 W consecutive columns.
    const V lo02 = interleave<V, 0>(y[a][0], y[a][2], lanes), hi02 = interleave<V, W>(y[a][0], y[a][2], lanes);
    const V lo13 = interleave<V, 0>(y[a][1], y[a][3], lanes), hi13 = interleave<V, W>(y[a][1], y[a][3], lanes);
    const V out[MC] = {interleave<V, 0>(lo02, lo13, lanes), interleave<V, W>(lo02, lo13, lanes),
                       interleave<V, 0>(hi02, hi13, lanes), interleave<V, W>(hi02, hi13, lanes)};
    for (int k = 0; k < count; ++k) {
      const OutputSpan span = output_span(j, seg[k], a);
      for (int v = 0; v < MC; ++v) {
        const int64_t from = std::max<int64_t>(0, span.from - v * W), to = std::min<int64_t>(W, span.to - v * W);
        if (from < to) finish(j, o, span.first + v * W, out[v], from, to);
      }
    }
  }
}

// Part `part` of `parts` of the blocks of PV tile vectors each.
template <class V, int MR, int OB, int PV>
__attribute__((always_inline)) inline void run_blocks(const ConvJob& j, const float* src, int part, int parts) {
  constexpr int W = sizeof(V) / sizeof(float), tb = PV * W, kPoints = (MR + 2) * (MC + 2);
  const int C = j.in_channels;
  const Tiling t = tiling<MR>(j, W);
  const int64_t blocks = (t.vectors + PV - 1) / PV, per = (blocks + parts - 1) / parts;
  const int64_t b0 = part * per, b1 = std::min(blocks, b0 + per);
  thread_local std::vector<float> scratch;
  scratch.resize(size_t(kPoints) * (C + OB) * tb);
  float* v = scratch.data();
  float* m = v + size_t(kPoints) * C * tb;
  Segment seg[PV][W + 1];
  int count[PV];
  VectorReads<V> reads[PV];
  for (int64_t block = b0; block < b1; ++block) {
    const int vectors = int(std::min<int64_t>(PV, t.vectors - block * PV));
    for (int i = 0; i < vectors; ++i) {
      count[i] = segments<MR, W>(j, t, block * PV + i, seg[i]);
      plan_reads<V>(j, seg[i], count[i], reads[i]);
    }
    // Channel by channel, all vectors of the block: neighbouring vectors' rows are read together.
    for (int c = 0; c < C; ++c) {
      for (int i = 0; i < vectors; ++i) {
        transform_input<V, MR>(j, src + c * j.n, reads[i], v + c * tb + i * W, int64_t(C) * tb);
      }
    }
    for (int o0 = 0; o0 < j.out_channels; o0 += OB) {
      // The residual and output points these channels' output transform will touch, fetched while the
      // products are computed: read once each, they would otherwise wait for memory there.
      for (int o = o0; o < o0 + OB; ++o) {
        for (int i = 0; i < vectors; ++i) {
          for (int k = 0; k < count[i]; ++k) {
            for (int a = 0; a < MR; ++a) {
              const OutputSpan span = output_span(j, seg[i][k], a);
              const int64_t at = int64_t(o) * j.n + span.first;
              for (int64_t q = span.from; q < span.to; q += 16) {
                if (j.residual) __builtin_prefetch(j.residual + at + q);
                __builtin_prefetch(j.out + at + q, 1);
              }
            }
          }
        }
      }
      const float* w = j.weights + int64_t(o0 / kPack) * kPoints * C * kPack + o0 % kPack;
      for (int k = 0; k < kPoints; ++k, w += C * kPack) {
        V acc[OB][PV] = {};
        multiply_accumulate<V, OB, PV>(acc, w, v + k * C * tb, tb, C);
        for (int o = 0; o < OB; ++o) {
          for (int i = 0; i < PV; ++i) store(m + (k * OB + o) * tb + i * W, acc[o][i]);
        }
      }
      for (int o = 0; o < OB; ++o) {
        for (int i = 0; i < vectors; ++i) {
          transform_output<V, MR, OB>(j, m + o * tb + i * W, tb, o0 + o, seg[i], count[i]);
        }
      }
    }
  }
}

using Runner = void (*)(const ConvJob&, const float*, int, int);

// Register blocks as in direct_conv.cpp, 8 output channels by 3 vectors where there are 32 registers.
#if defined(__x86_64__)
template <int MR>
__attribute__((target("avx512f,fma"))) void winograd_avx512(const ConvJob& j, const float* src, int part, int parts) {
  run_blocks<v16, MR, 8, 3>(j, src, part, parts);
}
template <int MR>
__attribute__((target("avx2,fma"))) void winograd_avx2(const ConvJob& j, const float* src, int part, int parts) {
  run_blocks<v8, MR, 4, 3>(j, src, part, parts);
}
template <int MR>
void winograd_baseline(const ConvJob& j, const float* src, int part, int parts) {
  run_blocks<v4, MR, 4, 2>(j, src, part, parts);
}
#else
template <int MR>
void winograd_baseline(const ConvJob& j, const float* src, int part, int parts) {
  run_blocks<v4, MR, 4, 5>(j, src, part, parts);
}
#endif

template <int MR>
Runner runner_for_cpu() {
#if defined(__x86_64__)
  const Runner avx512 = winograd_avx512<MR>, avx2 = winograd_avx2<MR>;
#endif
  const Runner baseline = winograd_baseline<MR>;
  return WESPEAKER_KERNEL_FOR_CPU(avx512, avx2, baseline);
}

}  // namespace

void run_winograd(const ConvJob& j) {
  static const Runner runners[2] = {runner_for_cpu<2>(), runner_for_cpu<4>()};
  const int MR = j.tile_rows;  // 2 or 4, tile_cols 4: winograd_conv checked
  const Runner runner = runners[MR / 4];
  // A segment reads one grid row above its tiles and MR below (the item's margin row at most), and a
  // vector's worth of tiles (MC W columns, W at most 16) plus a column either side and one more point
  // whichever lanes it keeps: up to MR rows + MC W + MC + 2 points past the last channel and a row + MC W
  // before the first, which the guard rows hold unless the grid is tiny. Then the source is copied with that
  // much zero padding either side.
  constexpr int kMaxLanes = 16;
  const float* src = j.src[0];
  std::vector<float> padded;
  const int64_t margin = (MR + 1) * j.cols + MC * kMaxLanes + MC + 2;
  if (margin > j.n) {
    const int64_t size = (j.in_channels + 2) * j.n;
    padded.assign(size_t(size + 2 * margin), 0.0f);
    std::memcpy(padded.data() + margin, src - j.n, size * sizeof(float));
    src = padded.data() + margin + j.n;
  }
  for (int64_t row = j.item_rows - 1; row * j.cols < j.n; row += j.item_rows) {  // each item's margin row
    for (int o = 0; o < j.out_channels; ++o) std::fill_n(j.out + o * j.n + row * j.cols, j.cols, 0.0f);
  }
  Workers& workers = Workers::shared();
  const int parts = workers.size();
  workers.run(parts, [&](int i) { runner(j, src, i, parts); });
}

}  // namespace wespeaker
