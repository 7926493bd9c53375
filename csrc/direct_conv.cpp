#include "direct_conv.h"

#include "cpu_isa.h"
#include "workers.h"

#include <mlx/allocator.h>
#include <mlx/backend/cpu/encoder.h>
#include <mlx/ops.h>
#include <mlx/primitives.h>

#include <algorithm>
#include <stdexcept>

namespace mx = mlx::core;

namespace wespeaker {
namespace {

constexpr int kPack = 8;  // output channels per packed weight group (every width of the trunk divides by it)

// What one call computes, as raw pointers into evaluated, row-contiguous arrays.
struct Job {
  const float* const* src;     // per tap: channel 0 of its source, moved by the tap's offset
  int64_t n;                   // pixels, also the channel stride of sources, residual and output
  int taps, in_channels, out_channels;
  const float* weights;   // [O / 8][taps][C][8]
  const float* bias;      // [O]
  const float* residual;  // its channel 0, or null
  const float* mask;      // [N], or null
  Activation activation;
  float* out;  // channel 0 (row 1) of the output
};

// Output channels [o0, o0 + OB) at the `valid` pixels from p on (at most PV vectors' worth). Sources are
// read a full vector at a time: every source has a zero guard row after its last channel, which the
// reads past pixel N - 1 (at most a vector plus one grid row) stay inside.
template <class V, int OB, int PV>
__attribute__((always_inline)) inline void block(const Job& j, int o0, int64_t p, int64_t valid) {
  constexpr int W = sizeof(V) / sizeof(float);
  V acc[OB][PV];
  for (int k = 0; k < OB; ++k) {
    const V b = j.bias[o0 + k] - V{};
    for (int v = 0; v < PV; ++v) acc[k][v] = b;
  }
  const float* w = j.weights + int64_t(o0 / kPack) * j.taps * j.in_channels * kPack + o0 % kPack;
  for (int t = 0; t < j.taps; ++t) {
    const float* s = j.src[t] + p;
    for (int c = 0; c < j.in_channels; ++c, s += j.n, w += kPack) {
      V x[PV];
      for (int v = 0; v < PV; ++v) x[v] = load<V>(s + v * W);
      for (int k = 0; k < OB; ++k) {
        const V wk = w[k] - V{};  // a broadcast: V{} + w would add a zero first (-0 + 0 is +0)
        for (int v = 0; v < PV; ++v) acc[k][v] += wk * x[v];
      }
    }
  }
  for (int k = 0; k < OB; ++k) {
    const int64_t row = int64_t(o0 + k) * j.n;
    for (int v = 0; v < PV; ++v) {
      const int64_t at = p + v * W, n = std::min<int64_t>(W, valid - v * W);
      if (n <= 0) break;
      V y = acc[k][v];
      if (j.residual) y += n == W ? load<V>(j.residual + row + at) : load_first<V>(j.residual + row + at, n);
      // NaN stays NaN through both, as through mx::maximum and mx::abs, for the final checks to see.
      if (j.activation == Activation::relu) y = y < 0 ? V{} : y;
      if (j.activation == Activation::abs) y = y < 0 ? -y : y;
      if (j.mask) y *= n == W ? load<V>(j.mask + at) : load_first<V>(j.mask + at, n);
      store_first(j.out + row + at, y, n);
    }
  }
}

// Pixels [p0, p1): a few register blocks' worth at a time, every output channel over them while their
// inputs are in cache.
template <class V, int OB, int PV>
__attribute__((always_inline)) inline void run_range(const Job& j, int64_t p0, int64_t p1) {
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
__attribute__((target("avx512f,fma"))) void run_avx512(const Job& j, int64_t p0, int64_t p1) {
  run_range<v16, 4, 6>(j, p0, p1);
}
__attribute__((target("avx2,fma"))) void run_avx2(const Job& j, int64_t p0, int64_t p1) {
  run_range<v8, 4, 3>(j, p0, p1);
}
void run_baseline(const Job& j, int64_t p0, int64_t p1) { run_range<v4, 4, 2>(j, p0, p1); }
#else
void run_baseline(const Job& j, int64_t p0, int64_t p1) { run_range<v4, 4, 5>(j, p0, p1); }
#endif

using Runner = void (*)(const Job&, int64_t, int64_t);

Runner pick_runner() {
  switch (cpu_isa()) {
#if defined(__x86_64__)
    case CpuIsa::avx512:
      return run_avx512;
    case CpuIsa::avx2:
      return run_avx2;
#endif
    default:
      return run_baseline;
  }
}

void run(const Job& j) {
  static const Runner runner = pick_runner();
  Workers& workers = Workers::shared();
  // Even the narrowest layer does ~300 multiply-adds per pixel: a few register blocks are worth a thread.
  constexpr int64_t kMinPixelsPerThread = 64;
  const int parts = int(std::max<int64_t>(1, std::min<int64_t>(workers.size(), j.n / kMinPixelsPerThread)));
  const int64_t per = (j.n + parts - 1) / parts;
  workers.run(parts, [&](int i) { runner(j, i * per, std::min(j.n, (i + 1) * per)); });
}

class DirectConv : public mx::UnaryPrimitive {
 public:
  DirectConv(mx::Stream stream, std::vector<TapSource> taps, int sources, bool residual, bool mask,
             Activation activation)
      : mx::UnaryPrimitive(stream),
        taps_(std::move(taps)),
        sources_(sources),
        residual_(residual),
        mask_(mask),
        activation_(activation) {}

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
    Job j{};
    j.n = n;
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
      run(j);
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
};

}  // namespace

PackedConv pack_conv(const mx::array& taps, const mx::array& bias, mx::Stream s) {
  const int k = taps.shape(0), out = taps.shape(1), in = taps.shape(2);
  if (out % kPack != 0) throw std::logic_error("pack_conv: output channels are not a multiple of 8");
  // [O / 8, taps, C, 8]
  mx::array w = mx::transpose(mx::reshape(taps, {k, out / kPack, kPack, in}, s), {1, 0, 3, 2}, s);
  return PackedConv{mx::contiguous(w, false, s), bias, out, in, k};
}

mx::array direct_conv(const PackedConv& conv, const std::vector<mx::array>& sources, const std::vector<TapSource>& taps,
                      const std::optional<mx::array>& residual, const std::optional<mx::array>& mask,
                      Activation activation, mx::Stream stream) {
  if (int(taps.size()) != conv.taps) {
    throw std::logic_error("direct_conv: weights and taps do not match");
  }
  std::vector<mx::array> inputs{conv.weights, conv.bias};
  inputs.insert(inputs.end(), sources.begin(), sources.end());
  if (residual) inputs.push_back(*residual);
  if (mask) inputs.push_back(*mask);
  const int n = sources.front().shape(1);
  return mx::array({conv.out_channels + 2, n}, mx::float32,
                   std::make_shared<DirectConv>(stream, taps, int(sources.size()), residual.has_value(),
                                                mask.has_value(), activation),
                   std::move(inputs));
}

}  // namespace wespeaker
