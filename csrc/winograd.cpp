// winograd_conv's kernel: F(2x2, 3x3) on the trunk's grid (see direct_conv.h and resnet.cpp).
//
// Tiles of 2x2 outputs cover each item's F (even) rows of the grid and all its columns, the margin column
// included (masked like direct_conv's); the margin row F is written as zeros. A tile reads a 4x4 block of
// points, but each of its outputs is computed from its own 3x3 window only (B^T's and A^T's zeros see to
// that), so points past the margins (the next row's, where a tile passes the end of a row) never enter an
// output, as with direct_conv. Where a point falls in its tile does change the rounding: tiles start on each
// item's first row and column, so an item's outputs are the same bits alone and in any batch, and a time
// piece's (resnet.cpp, its start even at every level) the same as the whole clip's. Tiles are numbered item
// by item, row-major, and W consecutive ones make a vector, which continues on the next tile row where one
// ends (short clips have rows of a few vectors: a partial vector per row would waste up to a fifth of the
// products). A few vectors make a block, which one thread carries through all three steps while it is in
// cache: the input transform of every channel (V = B^T d B, 16 values per tile and channel), 16 products
// [O, C] x [C, tiles] in registers as in direct_conv, and the output transform (A^T M A) with the bias,
// residual, activation and mask.
#include "conv_kernel.h"
#include "workers.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

namespace wespeaker {
namespace {

constexpr int kPoints = 16;  // values of a transformed 4x4 tile

template <class V, size_t... I>
__attribute__((always_inline)) inline V even_lanes(V a, V b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (2 * I)...);
}

template <class V, size_t... I>
__attribute__((always_inline)) inline V odd_lanes(V a, V b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (2 * I + 1)...);
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

// The tiling of a job's grid: tile rows are numbered over all items, tile_rows (F / 2) per item.
struct Tiling {
  int64_t tile_rows, tile_cols, tiles, vectors;
};

Tiling tiling(const ConvJob& j, int lanes) {
  Tiling t{(j.item_rows - 1) / 2, (j.cols + 1) / 2, 0, 0};
  t.tiles = j.n / (j.item_rows * j.cols) * t.tile_rows * t.tile_cols;
  t.vectors = (t.tiles + lanes - 1) / lanes;
  return t;
}

// The part of a vector that lies in one tile row: lanes [from, to), lane l at tile column t0 + l, its
// outputs at grid rows row, row + 1 and columns 2 (t0 + l), 2 (t0 + l) + 1. t0 is negative for the part
// that continues a vector on the next tile row.
struct Segment {
  int64_t row, t0;
  int from, to;
};

// The segments of vector g, at most W + 1 (a tile row can be a single tile wide); returns how many.
template <int W>
int segments(const ConvJob& j, const Tiling& t, int64_t g, Segment* out) {
  const int64_t first = g * W, end = std::min(first + W, t.tiles);
  int count = 0;
  for (int64_t r = first / t.tile_cols; r * t.tile_cols < end; ++r) {
    const int64_t t0 = first - r * t.tile_cols, item = r / t.tile_rows, row = r % t.tile_rows;
    out[count++] = {item * j.item_rows + 2 * row, t0, int(std::max<int64_t>(0, -t0)),
                    int(std::min<int64_t>(W, t.tile_cols - t0))};
  }
  return count;
}

// Where output row a (0 or 1) of a segment's tiles goes: lanes [from, to) of the 2 W output columns from
// pixel `first` on, i.e. the segment's tiles less a last column past the grid's.
struct OutputSpan {
  int64_t first, from, to;
};

OutputSpan output_span(const ConvJob& j, const Segment& sg, int a) {
  return {(sg.row + a) * j.cols + 2 * sg.t0, 2 * sg.from, std::min<int64_t>(2 * sg.to, j.cols - 2 * sg.t0)};
}

// One channel of one vector of tiles, transformed: out[k * plane + lane], k = 4 a + b for the row a of
// B^T d and the column b of d B. src: the channel's first point.
template <class V>
__attribute__((always_inline)) inline void transform_input(const ConvJob& j, const float* src, const Segment* seg,
                                                           int count, float* out, int64_t plane) {
  constexpr int W = sizeof(V) / sizeof(float);
  constexpr auto lanes = std::make_index_sequence<W>{};
  constexpr V lane = lane_indices<V>(lanes);
  V d[4][4] = {};  // per input row i of the tiles, its points 2t - 1 .. 2t + 2
  for (int s = 0; s < count; ++s) {
    const float* p = src + (seg[s].row - 1) * j.cols + 2 * seg[s].t0 - 1;  // the first input point
    const auto inside = (lane >= float(seg[s].from)) & (lane < float(seg[s].to));
    for (int i = 0; i < 4; ++i) {
      const float* q = p + i * j.cols;
      const V a0 = load<V>(q), a1 = load<V>(q + W), b0 = load<V>(q + 2), b1 = load<V>(q + 2 + W);
      const V e[4] = {even_lanes(a0, a1, lanes), odd_lanes(a0, a1, lanes), even_lanes(b0, b1, lanes),
                      odd_lanes(b0, b1, lanes)};
      for (int k = 0; k < 4; ++k) d[i][k] = s == 0 ? e[k] : (inside ? e[k] : d[i][k]);
    }
  }
  V u[4][4];  // d B per row
  for (int i = 0; i < 4; ++i) {
    u[i][0] = d[i][0] - d[i][2];
    u[i][1] = d[i][1] + d[i][2];
    u[i][2] = d[i][2] - d[i][1];
    u[i][3] = d[i][1] - d[i][3];
  }
  for (int b = 0; b < 4; ++b) {
    store(out + (0 + b) * plane, u[0][b] - u[2][b]);
    store(out + (4 + b) * plane, u[1][b] + u[2][b]);
    store(out + (8 + b) * plane, u[2][b] - u[1][b]);
    store(out + (12 + b) * plane, u[1][b] - u[3][b]);
  }
}

// Output channel o of one vector of tiles from their 16 products m[k * OB * tb] (k = 4 a + b): A^T M A,
// the bias and direct_conv's epilogue, written where each segment's tiles lie inside the grid.
template <class V, int OB>
__attribute__((always_inline)) inline void transform_output(const ConvJob& j, const float* m, int64_t tb, int o,
                                                            const Segment* seg, int count) {
  constexpr int W = sizeof(V) / sizeof(float);
  constexpr auto lanes = std::make_index_sequence<W>{};
  auto at = [&](int k) { return load<V>(m + k * OB * tb); };
  V s[4][2];  // per row a of M: M A
  for (int a = 0; a < 4; ++a) {
    s[a][0] = at(4 * a) + at(4 * a + 1) + at(4 * a + 2);
    s[a][1] = at(4 * a + 1) - at(4 * a + 2) - at(4 * a + 3);
  }
  const V bias = j.bias[o] - V{};
  V y[2][2];  // [output row][even, odd output columns], as W lanes in (2 t, 2 t + 1) pairs when interleaved
  for (int b = 0; b < 2; ++b) {
    y[0][b] = bias + (s[0][b] + s[1][b] + s[2][b]);
    y[1][b] = bias + (s[1][b] - s[2][b] - s[3][b]);
  }
  for (int a = 0; a < 2; ++a) {
    const V lo = interleave<V, 0>(y[a][0], y[a][1], lanes), hi = interleave<V, W>(y[a][0], y[a][1], lanes);
    for (int k = 0; k < count; ++k) {
      const OutputSpan span = output_span(j, seg[k], a);
      if (span.from < W) finish(j, o, span.first, lo, span.from, std::min<int64_t>(W, span.to));
      if (span.to > W) finish(j, o, span.first + W, hi, std::max<int64_t>(0, span.from - W), span.to - W);
    }
  }
}

// Part `part` of `parts` of the blocks of PV tile vectors each.
template <class V, int OB, int PV>
__attribute__((always_inline)) inline void run_blocks(const ConvJob& j, const float* src, int part, int parts) {
  constexpr int W = sizeof(V) / sizeof(float), tb = PV * W;
  const int C = j.in_channels;
  const Tiling t = tiling(j, W);
  const int64_t blocks = (t.vectors + PV - 1) / PV, per = (blocks + parts - 1) / parts;
  const int64_t b0 = part * per, b1 = std::min(blocks, b0 + per);
  thread_local std::vector<float> scratch;
  scratch.resize(size_t(kPoints) * (C + OB) * tb);
  float* v = scratch.data();
  float* m = v + size_t(kPoints) * C * tb;
  Segment seg[PV][W + 1];
  int count[PV];
  for (int64_t block = b0; block < b1; ++block) {
    const int vectors = int(std::min<int64_t>(PV, t.vectors - block * PV));
    for (int i = 0; i < vectors; ++i) count[i] = segments<W>(j, t, block * PV + i, seg[i]);
    // Channel by channel, all vectors of the block: neighbouring vectors' rows are read together.
    for (int c = 0; c < C; ++c) {
      for (int i = 0; i < vectors; ++i) {
        transform_input<V>(j, src + c * j.n, seg[i], count[i], v + c * tb + i * W, int64_t(C) * tb);
      }
    }
    for (int o0 = 0; o0 < j.out_channels; o0 += OB) {
      // The residual and output points these channels' output transform will touch, fetched while the
      // products are computed: read once each, they would otherwise wait for memory there.
      for (int o = o0; o < o0 + OB; ++o) {
        for (int i = 0; i < vectors; ++i) {
          for (int k = 0; k < count[i]; ++k) {
            for (int a = 0; a < 2; ++a) {
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
          transform_output<V, OB>(j, m + o * tb + i * W, tb, o0 + o, seg[i], count[i]);
        }
      }
    }
  }
}

// Register blocks as in direct_conv.cpp, 8 output channels by 3 vectors where there are 32 registers.
#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) void winograd_avx512(const ConvJob& j, const float* src, int part, int parts) {
  run_blocks<v16, 8, 3>(j, src, part, parts);
}
__attribute__((target("avx2,fma"))) void winograd_avx2(const ConvJob& j, const float* src, int part, int parts) {
  run_blocks<v8, 4, 3>(j, src, part, parts);
}
void winograd_baseline(const ConvJob& j, const float* src, int part, int parts) {
  run_blocks<v4, 4, 2>(j, src, part, parts);
}
#else
void winograd_baseline(const ConvJob& j, const float* src, int part, int parts) {
  run_blocks<v4, 4, 5>(j, src, part, parts);
}
#endif

}  // namespace

void run_winograd(const ConvJob& j) {
  static const auto runner = WESPEAKER_KERNEL_FOR_CPU(winograd_avx512, winograd_avx2, winograd_baseline);
  // A segment reads one grid row above and two below its tiles, and a vector's worth of tiles (2 W
  // columns, W at most 16) and a column either side whichever lanes it keeps: up to 2 rows + 2 W points
  // past the last channel and a row + 2 W before the first, which the guard rows hold unless the grid is
  // tiny. Then the source is copied with that much zero padding either side.
  constexpr int kMaxLanes = 16;
  const float* src = j.src[0];
  std::vector<float> padded;
  const int64_t margin = 2 * j.cols + 2 * kMaxLanes + 2;
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
