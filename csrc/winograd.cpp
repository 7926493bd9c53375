// winograd_conv's kernel: F(2x2, 3x3) on the trunk's grid (see direct_conv.h and resnet.cpp).
//
// Tiles of 2x2 outputs are taken over the whole [rows, cols] grid of a [C + 2, N] activation, margins
// included: the margins' outputs are masked like direct_conv's, and a tile that straddles two items or
// the end of a grid row only reads finite neighbours, whose coefficients are exactly zero. W tiles that
// follow each other along time make a vector; a few vectors make a block, which one thread carries
// through all three steps while it is in cache: the input transform of every channel (V = B^T d B, 16
// values per tile and channel), 16 products [O, C] x [C, tiles] in registers as in direct_conv, and the
// output transform (A^T M A) with the bias, residual, activation and mask.
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

// a[0], b[0], a[1], b[1], ... from lane `from / 2` of each on.
template <class V, size_t from, size_t... I>
__attribute__((always_inline)) inline V interleave(V a, V b, std::index_sequence<I...>) {
  constexpr size_t W = sizeof(V) / sizeof(float);
  return __builtin_shufflevector(a, b, ((I & 1) * W + (from + I) / 2)...);
}

// Where a block's tiles are: vector g covers tiles t0 .. t0 + W - 1 of tile row `row`, i.e. outputs
// (2 row + a, 2 t + b), a, b in {0, 1}.
struct TileVector {
  int64_t row, t0;
};

template <int W>
TileVector tile_vector(int64_t g, int64_t row_vectors) {
  return {g / row_vectors, (g % row_vectors) * W};
}

// The transformed inputs of W tiles for every channel: v[k * C * tb + c * tb + lane], k = 4 a + b for
// the row a of B^T d and the column b of d B.
template <class V>
__attribute__((always_inline)) inline void transform_input(const ConvJob& j, const float* src, TileVector tv,
                                                           float* v, int64_t tb) {
  constexpr int W = sizeof(V) / sizeof(float);
  constexpr auto lanes = std::make_index_sequence<W>{};
  const int64_t plane = int64_t(j.in_channels) * tb;
  const float* p = src + (2 * tv.row - 1) * j.cols + 2 * tv.t0 - 1;  // the tiles' first input point
  for (int c = 0; c < j.in_channels; ++c, p += j.n, v += tb) {
    V u[4][4];  // per input row i: d B of the 4 points (2t - 1 .. 2t + 2) in that row
    for (int i = 0; i < 4; ++i) {
      const float* q = p + i * j.cols;
      const V a0 = load<V>(q), a1 = load<V>(q + W), b0 = load<V>(q + 2), b1 = load<V>(q + 2 + W);
      const V d0 = even_lanes(a0, a1, lanes), d1 = odd_lanes(a0, a1, lanes);
      const V d2 = even_lanes(b0, b1, lanes), d3 = odd_lanes(b0, b1, lanes);
      u[i][0] = d0 - d2;
      u[i][1] = d1 + d2;
      u[i][2] = d2 - d1;
      u[i][3] = d1 - d3;
    }
    for (int b = 0; b < 4; ++b) {
      store(v + (0 + b) * plane, u[0][b] - u[2][b]);
      store(v + (4 + b) * plane, u[1][b] + u[2][b]);
      store(v + (8 + b) * plane, u[2][b] - u[1][b]);
      store(v + (12 + b) * plane, u[1][b] - u[3][b]);
    }
  }
}

// Output channel o of W tiles from their 16 products m[k * OB * tb] (k = 4 a + b): A^T M A, the bias and
// direct_conv's epilogue, written where the tiles lie inside the grid.
template <class V, int OB>
__attribute__((always_inline)) inline void transform_output(const ConvJob& j, const float* m, int64_t tb, int o,
                                                            TileVector tv) {
  constexpr int W = sizeof(V) / sizeof(float);
  constexpr auto lanes = std::make_index_sequence<W>{};
  auto at = [&](int k) { return load<V>(m + k * OB * tb); };
  V s[4][2];  // per row a of M: M A
  for (int a = 0; a < 4; ++a) {
    s[a][0] = at(4 * a) + at(4 * a + 1) + at(4 * a + 2);
    s[a][1] = at(4 * a + 1) - at(4 * a + 2) - at(4 * a + 3);
  }
  const V bias = j.bias[o] - V{};
  const int64_t rows = j.n / j.cols, cols = j.cols - 2 * tv.t0;
  for (int a = 0; a < 2 && 2 * tv.row + a < rows; ++a) {
    V y[2];
    for (int b = 0; b < 2; ++b) y[b] = bias + (a == 0 ? s[0][b] + s[1][b] + s[2][b] : s[1][b] - s[2][b] - s[3][b]);
    const int64_t first = (2 * tv.row + a) * j.cols + 2 * tv.t0;
    finish(j, o, first, interleave<V, 0>(y[0], y[1], lanes), std::min<int64_t>(W, cols));
    if (cols > W) finish(j, o, first + W, interleave<V, W>(y[0], y[1], lanes), std::min<int64_t>(W, cols - W));
  }
}

// Blocks [b0, b1) of PV tile vectors each.
template <class V, int OB, int PV>
__attribute__((always_inline)) inline void run_blocks(const ConvJob& j, const float* src, int64_t b0, int64_t b1) {
  constexpr int W = sizeof(V) / sizeof(float), tb = PV * W;
  const int C = j.in_channels;
  const int64_t row_vectors = ((j.cols + 1) / 2 + W - 1) / W;
  const int64_t vectors = (j.n / j.cols + 1) / 2 * row_vectors;
  thread_local std::vector<float> scratch;
  const int64_t plane = int64_t(C) * tb;
  scratch.resize(size_t(kPoints) * (plane + OB * tb));
  float* v = scratch.data();
  float* m = v + kPoints * plane;
  for (int64_t block = b0; block < b1; ++block) {
    const int count = int(std::min<int64_t>(PV, vectors - block * PV));
    for (int i = 0; i < count; ++i) {
      transform_input<V>(j, src, tile_vector<W>(block * PV + i, row_vectors), v + i * W, tb);
    }
    for (int o0 = 0; o0 < j.out_channels; o0 += OB) {
      const float* w = j.weights + int64_t(o0 / kPack) * kPoints * C * kPack + o0 % kPack;
      for (int k = 0; k < kPoints; ++k, w += C * kPack) {
        V acc[OB][PV] = {};
        multiply_accumulate<V, OB, PV>(acc, w, v + k * plane, tb, C);
        for (int o = 0; o < OB; ++o) {
          for (int i = 0; i < PV; ++i) store(m + (k * OB + o) * tb + i * W, acc[o][i]);
        }
      }
      for (int o = 0; o < OB; ++o) {
        for (int i = 0; i < count; ++i) {
          transform_output<V, OB>(j, m + o * tb + i * W, tb, o0 + o, tile_vector<W>(block * PV + i, row_vectors));
        }
      }
    }
  }
}

#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) void winograd_avx512(const ConvJob& j, const float* src, int64_t b0, int64_t b1) {
  run_blocks<v16, 8, 3>(j, src, b0, b1);
}
__attribute__((target("avx2,fma"))) void winograd_avx2(const ConvJob& j, const float* src, int64_t b0, int64_t b1) {
  run_blocks<v8, 4, 3>(j, src, b0, b1);
}
void winograd_baseline(const ConvJob& j, const float* src, int64_t b0, int64_t b1) { run_blocks<v4, 4, 2>(j, src, b0, b1); }
#else
void winograd_baseline(const ConvJob& j, const float* src, int64_t b0, int64_t b1) { run_blocks<v4, 4, 5>(j, src, b0, b1); }
#endif

struct Kernel {
  void (*run)(const ConvJob&, const float*, int64_t, int64_t);
  int lanes, vectors_per_block;
};

Kernel pick_kernel() {
  switch (cpu_isa()) {
#if defined(__x86_64__)
    case CpuIsa::avx512:
      return {winograd_avx512, 16, 3};
    case CpuIsa::avx2:
      return {winograd_avx2, 8, 3};
    default:
      return {winograd_baseline, 4, 2};
#else
    default:
      return {winograd_baseline, 4, 5};
#endif
  }
}

}  // namespace

void run_winograd(const ConvJob& j) {
  static const Kernel kernel = pick_kernel();
  // A tile reads one row above and two below it, and a vector up to 2 W + 1 columns right of its first
  // output: past the last channel by up to 2 rows + 2 W points, which the guard row holds unless the grid
  // is tiny. Then the source is copied with that much zero padding.
  const float* src = j.src[0];
  std::vector<float> padded;
  const int64_t overrun = 2 * j.cols + 2 * kernel.lanes;
  if (overrun > j.n) {
    const int64_t size = (j.in_channels + 2) * j.n;
    padded.assign(size_t(size + overrun), 0.0f);
    std::memcpy(padded.data(), src - j.n, size * sizeof(float));
    src = padded.data() + j.n;
  }
  const int64_t row_vectors = ((j.cols + 1) / 2 + kernel.lanes - 1) / kernel.lanes;
  const int64_t vectors = (j.n / j.cols + 1) / 2 * row_vectors;
  const int64_t blocks = (vectors + kernel.vectors_per_block - 1) / kernel.vectors_per_block;
  Workers& workers = Workers::shared();
  const int parts = int(std::min<int64_t>(workers.size(), blocks));
  const int64_t per = (blocks + parts - 1) / parts;
  workers.run(parts, [&](int i) { kernel.run(j, src, i * per, std::min(blocks, (i + 1) * per)); });
}

}  // namespace wespeaker
