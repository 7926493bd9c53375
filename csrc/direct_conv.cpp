#include "direct_conv.h"

#include "conv_kernel.h"
#include "workers.h"

#include <mlx/allocator.h>
#include <mlx/backend/cpu/encoder.h>
#include <mlx/ops.h>
#include <mlx/primitives.h>
#include <mlx/transforms.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace mx = mlx::core;

namespace wespeaker {
namespace {

// Output channels [o0, o0 + OB) at the `valid` pixels from p on (at most PV vectors' worth). Sources are
// read a full vector at a time: every source has a zero guard row after its last channel, which the
// reads past pixel N - 1 (at most a vector plus one grid row) stay inside.
template <class V, int OB, int PV>
__attribute__((always_inline)) inline void block(const ConvJob& j, int o0, int64_t p, int64_t valid) {
  constexpr int W = sizeof(V) / sizeof(float);
  V acc[OB][PV];
  for (int k = 0; k < OB; ++k) {
    const V b = j.bias[o0 + k] - V{};
    for (int v = 0; v < PV; ++v) acc[k][v] = b;
  }
  const float* w = j.weights + int64_t(o0 / kPack) * j.taps * j.in_channels * kPack + o0 % kPack;
  for (int t = 0; t < j.taps; ++t, w += j.in_channels * kPack) {
    multiply_accumulate<V, OB, PV>(acc, w, j.src[t] + p, j.n, j.in_channels);
  }
  for (int k = 0; k < OB; ++k) {
    for (int v = 0; v < PV && v * W < valid; ++v) {
      finish(j, o0 + k, p + v * W, acc[k][v], 0, std::min<int64_t>(W, valid - v * W));
    }
  }
}

// Pixels [p0, p1): a few register blocks' worth at a time, every output channel over them while their
// inputs are in cache.
template <class V, int OB, int PV>
__attribute__((always_inline)) inline void run_range(const ConvJob& j, int64_t p0, int64_t p1) {
  constexpr int64_t W = sizeof(V) / sizeof(float), span = PV * W, chunk = 4 * span;
  for (int64_t q = p0; q < p1; q += chunk) {
    const int64_t q1 = std::min(p1, q + chunk);
    for (int o0 = 0; o0 < j.out_channels; o0 += OB) {
      int64_t p = q;
      for (; p + span <= q1; p += span) block<V, OB, PV>(j, o0, p, span);
      for (; p < q1; p += W) block<V, OB, 1>(j, o0, p, std::min(W, q1 - p));
    }
  }
}

// Register blocks sized to each instruction set's vector registers (32 x 512-bit, 16 x 256-bit,
// 16 x 128-bit on x86-64's baseline SSE2, 32 x 128-bit on arm64's NEON).
#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) void run_avx512(const ConvJob& j, int64_t p0, int64_t p1) {
  run_range<v16, 4, 6>(j, p0, p1);
}
__attribute__((target("avx2,fma"))) void run_avx2(const ConvJob& j, int64_t p0, int64_t p1) {
  run_range<v8, 4, 3>(j, p0, p1);
}
void run_baseline(const ConvJob& j, int64_t p0, int64_t p1) { run_range<v4, 4, 2>(j, p0, p1); }
#else
void run_baseline(const ConvJob& j, int64_t p0, int64_t p1) { run_range<v4, 4, 5>(j, p0, p1); }
#endif

}  // namespace

void run_direct(const ConvJob& j) {
  static const auto runner = WESPEAKER_KERNEL_FOR_CPU(run_avx512, run_avx2, run_baseline);
  Workers& workers = Workers::shared();
  // Even the narrowest layer does ~300 multiply-adds per pixel: a few register blocks are worth a thread.
  constexpr int64_t kMinPixelsPerThread = 64;
  const int parts = int(std::max<int64_t>(1, std::min<int64_t>(workers.size(), j.n / kMinPixelsPerThread)));
  const int64_t per = (j.n + parts - 1) / parts;
  workers.run(parts, [&](int i) { runner(j, i * per, std::min(j.n, (i + 1) * per)); });
}

namespace {

class DirectConv : public mx::UnaryPrimitive {
 public:
  // winograd_grid: {0, 0, 0, 0} for the direct kernel, else the grid's columns and rows per item and the
  // tile's output rows and columns for the Winograd one.
  DirectConv(mx::Stream stream, std::vector<TapSource> taps, int sources, bool residual, bool mask,
             Activation activation, std::array<int64_t, 4> winograd_grid)
      : mx::UnaryPrimitive(stream),
        taps_(std::move(taps)),
        sources_(sources),
        residual_(residual),
        mask_(mask),
        activation_(activation),
        winograd_grid_(winograd_grid) {}

  // inputs: weights, bias, the sources, then the residual and the mask where given.
  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    for (const auto& in : inputs) {
      if (!in.flags().row_contiguous) throw std::logic_error("direct_conv: an input is not row-contiguous");
    }
    const mx::array& weights = inputs[0];
    const int64_t n = out.shape(1);
    const int out_channels = out.shape(0) - 2;
    const mx::array* residual = residual_ ? &inputs[2 + sources_] : nullptr;
    if (residual && residual->is_donatable() && residual->nbytes() == out.nbytes()) {
      out.copy_shared_buffer(*residual);  // each output point reads only its own residual point
    } else {
      out.set_data(mx::allocator::malloc(out.nbytes()));
    }
    ConvJob j{};
    j.n = n;
    j.cols = winograd_grid_[0];
    j.item_rows = winograd_grid_[1];
    j.tile_rows = int(winograd_grid_[2]);
    j.tile_cols = int(winograd_grid_[3]);
    j.taps = int(taps_.size());
    j.out_channels = out_channels;
    j.in_channels = int(weights.shape(2));
    j.weights = weights.data<float>();
    j.bias = inputs[1].data<float>();
    std::vector<const float*> sources;
    for (const TapSource& tap : taps_) sources.push_back(inputs[2 + tap.source].data<float>() + n + tap.offset);
    j.residual = residual ? residual->data<float>() + n : nullptr;
    j.mask = mask_ ? inputs.back().data<float>() : nullptr;
    j.activation = activation_;
    float* data = out.data<float>();
    j.out = data + n;
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& in : inputs) encoder.set_input_array(in);
    encoder.set_output_array(out);
    encoder.dispatch([j, sources = std::move(sources), data, n, out_channels]() mutable {
      j.src = sources.data();
      std::fill_n(data, n, 0.0f);
      std::fill_n(data + (out_channels + 1) * n, n, 0.0f);
      j.cols ? run_winograd(j) : run_direct(j);
    });
  }

  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::logic_error("direct_conv runs on the CPU only");
  }

  const char* name() const override { return "WespeakerDirectConv"; }

 private:
  std::vector<TapSource> taps_;
  int sources_;
  bool residual_, mask_;
  Activation activation_;
  std::array<int64_t, 4> winograd_grid_;
};

}  // namespace

PackedConv pack_conv(const mx::array& taps, const mx::array& bias, mx::Stream s) {
  const int k = taps.shape(0), out = taps.shape(1), in = taps.shape(2);
  if (out % kPack != 0) throw std::logic_error("pack_conv: output channels are not a multiple of 8");
  // [O / 8, taps, C, 8]
  mx::array w = mx::transpose(mx::reshape(taps, {k, out / kPack, kPack, in}, s), {1, 0, 3, 2}, s);
  return PackedConv{mx::contiguous(w, false, s), bias, out, in, k};
}

namespace {

mx::array make_conv(const PackedConv& conv, const std::vector<mx::array>& sources, std::vector<TapSource> taps,
                    const std::optional<mx::array>& residual, const std::optional<mx::array>& mask,
                    Activation activation, std::array<int64_t, 4> winograd_grid, mx::Stream stream) {
  std::vector<mx::array> inputs{conv.weights, conv.bias};
  inputs.insert(inputs.end(), sources.begin(), sources.end());
  if (residual) inputs.push_back(*residual);
  if (mask) inputs.push_back(*mask);
  const int n = sources.front().shape(1);
  return mx::array({conv.out_channels + 2, n}, mx::float32,
                   std::make_shared<DirectConv>(stream, std::move(taps), int(sources.size()), residual.has_value(),
                                                mask.has_value(), activation, winograd_grid),
                   std::move(inputs));
}

}  // namespace

mx::array direct_conv(const PackedConv& conv, const std::vector<mx::array>& sources, const std::vector<TapSource>& taps,
                      const std::optional<mx::array>& residual, const std::optional<mx::array>& mask,
                      Activation activation, mx::Stream stream) {
  if (int(taps.size()) != conv.taps || conv.tile_rows) {
    throw std::logic_error("direct_conv: weights and taps do not match");
  }
  return make_conv(conv, sources, taps, residual, mask, activation, {0, 0, 0, 0}, stream);
}

namespace {

// G of F(m, 3), m = 2 or 4: (m + 2) x 3, matching winograd.cpp's B^T and A^T.
const double* winograd_filter(int m) {
  static const double g2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static const double g4[6][3] = {{1.0 / 4, 0, 0},
                                  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                  {0, 0, 1}};
  if (m == 2) return &g2[0][0];
  if (m == 4) return &g4[0][0];
  throw std::logic_error("pack_winograd: tiles are 2 or 4 outputs wide");
}

}  // namespace

PackedConv pack_winograd(const mx::array& taps, const mx::array& bias, int tile_rows, int tile_cols, mx::Stream s) {
  const int out = taps.shape(1), in = taps.shape(2);
  if (taps.shape(0) != 9) throw std::logic_error("pack_winograd: not a 3x3 convolution");
  // G_r g G_c^T per (o, c), g[i][j] = taps[3 i + j] (i frequency, j time), in float64: G's sixths and
  // twenty-fourths are not float32 numbers, and rounding once, at the end, keeps F(4, 3)'s error down.
  const double* gr = winograd_filter(tile_rows);
  const double* gc = winograd_filter(tile_cols);
  const int nr = tile_rows + 2, nc = tile_cols + 2;
  mx::array g = mx::contiguous(mx::astype(taps, mx::float32, s), false, s);
  mx::eval(g);
  const float* w = g.data<float>();
  const int64_t pairs = int64_t(out) * in;
  std::vector<float> transformed(size_t(nr * nc) * pairs);
  // Blocks of pairs, the pair innermost: the loops vectorise and a block's rows stay in cache (a pair at
  // a time made loading a model's weights take twice as long).
  constexpr int64_t kBlock = 512;
  std::vector<double> rows(size_t(nr * 3 * kBlock));  // (G_r g)[a][j] for each pair of the block
  for (int64_t p0 = 0; p0 < pairs; p0 += kBlock) {
    const int64_t n = std::min(kBlock, pairs - p0);
    for (int a = 0; a < nr; ++a) {
      for (int jj = 0; jj < 3; ++jj) {
        double* row = &rows[(a * 3 + jj) * kBlock];
        const float *w0 = w + jj * pairs + p0, *w1 = w + (3 + jj) * pairs + p0, *w2 = w + (6 + jj) * pairs + p0;
        const double g0 = gr[a * 3], g1 = gr[a * 3 + 1], g2 = gr[a * 3 + 2];
        for (int64_t k = 0; k < n; ++k) row[k] = ((0.0 + g0 * double(w0[k])) + g1 * double(w1[k])) + g2 * double(w2[k]);
      }
      for (int b = 0; b < nc; ++b) {
        const double *r0 = &rows[(a * 3) * kBlock], *r1 = r0 + kBlock, *r2 = r1 + kBlock;
        const double c0 = gc[b * 3], c1 = gc[b * 3 + 1], c2 = gc[b * 3 + 2];
        float* t = &transformed[(a * nc + b) * pairs + p0];
        for (int64_t k = 0; k < n; ++k) t[k] = float(((0.0 + r0[k] * c0) + r1[k] * c1) + r2[k] * c2);
      }
    }
  }
  PackedConv packed =
      pack_conv(mx::array(transformed.begin(), {nr * nc, out, in}, mx::float32), bias, s);
  packed.tile_rows = tile_rows;
  packed.tile_cols = tile_cols;
  return packed;
}

mx::array winograd_conv(const PackedConv& conv, const mx::array& source, int64_t cols, int64_t item_rows,
                        const std::optional<mx::array>& residual, const std::optional<mx::array>& mask,
                        Activation activation, mx::Stream stream) {
  if ((conv.tile_rows != 2 && conv.tile_rows != 4) || conv.tile_cols != 4 || cols < 1 || item_rows < 3 ||
      (item_rows - 1) % conv.tile_rows != 0 ||
      source.shape(1) % (cols * item_rows) != 0) {
    throw std::logic_error("winograd_conv: not Winograd weights, or not a grid of that shape");
  }
  return make_conv(conv, {source}, {{0, 0}}, residual, mask, activation,
                   {cols, item_rows, conv.tile_rows, conv.tile_cols}, stream);
}

}  // namespace wespeaker
