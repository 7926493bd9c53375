#include "segmentation.h"

#include "lstm.h"

#include <mlx/ops.h>
#include <mlx/transforms.h>

#include <cmath>
#include <cstring>

#include "cpu_isa.h"
#include "errors.h"
#include "tensors.h"
#include "wespeaker.h"

namespace mx = mlx::core;

namespace wespeaker {
namespace {

// segmentation-3.0's hyper-parameters (pyannote PyanNet with SincNet stride 10).
constexpr int kSincFilters = 80, kSincKernel = 251, kSincStride = 10;
constexpr int kConvChannels = 60, kConvKernel = 5, kPool = 3;
constexpr int kLstmLayers = 4, kHidden = 128, kGates = 4 * kHidden;
constexpr int kLinear = 128, kClasses = WESPEAKER_SEGMENTATION_CLASSES;
constexpr float kNormEps = 1e-5f, kLeak = 0.01f;
constexpr int64_t kCpuChunksPerPass = 1;

[[noreturn]] void invalid(const std::string& what) { throw InvalidArgument(what); }

}  // namespace

PyanNet::PyanNet(const std::string& path, mx::Stream stream)
    : stream_(stream), cpu_kernels_(stream.device == mx::Device::cpu && cpu_kernels_enabled()) {
  TensorTaker taker(read_safetensors(path, stream_), path, stream_);
  const mx::Stream s = stream_;
  auto norm = [&](const std::string& prefix, int channels) {
    norm_weight_.push_back(taker.take(prefix + ".weight", {channels}));
    norm_bias_.push_back(taker.take(prefix + ".bias", {channels}));
  };
  // PyTorch Conv1d weights [O, I, K] become MLX's [O, K, I].
  auto conv = [&](const std::string& prefix, int out, int in, int kernel, bool bias) {
    conv_weight_.push_back(mx::contiguous(
        mx::transpose(taker.take(prefix + ".weight", {out, in, kernel}), {0, 2, 1}, s), false, s));
    if (bias) conv_bias_.push_back(taker.take(prefix + ".bias", {out}));
  };
  norm("sincnet.wav_norm1d", 1);
  conv("sincnet.conv1d.0", kSincFilters, 1, kSincKernel, false);
  norm("sincnet.norm1d.0", kSincFilters);
  conv("sincnet.conv1d.1", kConvChannels, kSincFilters, kConvKernel, true);
  norm("sincnet.norm1d.1", kConvChannels);
  conv("sincnet.conv1d.2", kConvChannels, kConvChannels, kConvKernel, true);
  norm("sincnet.norm1d.2", kConvChannels);
  for (int l = 0; l < kLstmLayers; ++l) {
    const int in = l == 0 ? kConvChannels : 2 * kHidden;
    std::vector<mx::array> w_ih, w_hh, bias;
    for (const std::string suffix : {"", "_reverse"}) {
      const std::string k = "_l" + std::to_string(l) + suffix;
      w_ih.push_back(mx::transpose(taker.take("lstm.weight_ih" + k, {kGates, in}), s));
      w_hh.push_back(mx::transpose(taker.take("lstm.weight_hh" + k, {kGates, kHidden}), s));
      mx::array b_ih = taker.take("lstm.bias_ih" + k, {kGates});
      bias.push_back(mx::add(b_ih, taker.take("lstm.bias_hh" + k, {kGates}), s));
    }
    lstm_.push_back(LstmLayer{mx::contiguous(mx::concatenate(w_ih, 1, s), false, s),
                              mx::contiguous(mx::stack(w_hh, 0, s), false, s), mx::concatenate(bias, 0, s)});
  }
  auto linear = [&](const std::string& prefix, int out, int in) {
    linear_weight_t_.push_back(mx::contiguous(mx::transpose(taker.take(prefix + ".weight", {out, in}), s), false, s));
    linear_bias_.push_back(taker.take(prefix + ".bias", {out}));
  };
  linear("linear.0", kLinear, 2 * kHidden);
  linear("linear.1", kLinear, kLinear);
  linear("classifier", kClasses, kLinear);
  taker.expect_empty();
  if (cpu_kernels_) {
    // direct_conv's [K, O, I] taps and [O] bias; 60 outputs are padded to 64, a multiple of its packing.
    for (int c = 0; c < 3; ++c) {
      const int out = conv_weight_[c].shape(0), extra = (out + 7) / 8 * 8 - out;
      mx::array taps = mx::pad(mx::transpose(conv_weight_[c], {1, 0, 2}, s), {{0, 0}, {0, extra}, {0, 0}},
                               mx::array(0.0f), "constant", s);
      mx::array bias = c == 0 ? mx::zeros({out}, mx::float32, s) : conv_bias_[c - 1];
      conv_packed_.push_back(pack_conv(taps, mx::pad(bias, {0, extra}, mx::array(0.0f), "constant", s), s));
    }
  }

  std::vector<mx::array> all;
  for (const auto* group : {&norm_weight_, &norm_bias_, &conv_weight_, &conv_bias_, &linear_weight_t_, &linear_bias_}) {
    all.insert(all.end(), group->begin(), group->end());
  }
  for (const auto& layer : lstm_) all.insert(all.end(), {layer.w_ih_t, layer.w_hh_t, layer.bias});
  for (const auto& conv : conv_packed_) all.insert(all.end(), {conv.weights, conv.bias});
  taker.materialise(all);
}

int64_t segmentation_frames(int64_t samples) {
  if (samples < kSincKernel) return 0;
  int64_t n = (samples - kSincKernel) / kSincStride + 1;
  for (int stage = 0; stage < 3; ++stage) {
    if (stage > 0) n -= kConvKernel - 1;
    n /= kPool;
    if (n < 1) return 0;
  }
  return n;
}

// InstanceNorm1d over time (`axis`) per channel and item (biased variance), with its affine transform,
// `weight` and `bias` shaped to broadcast against x. Deviations are taken from the first frame before
// averaging, then the variance in a second pass: the same function, but a (near) constant channel, such
// as any channel of a silent chunk, then gives deviations of exactly 0 instead of rounding noise that
// 1 / sqrt(eps) would amplify ~300-fold.
static mx::array instance_norm(const mx::array& x, const mx::array& weight, const mx::array& bias, int axis,
                               mx::Stream s) {
  mx::array shifted = mx::subtract(x, mx::take(x, mx::array({0}), axis, s), s);
  mx::array centred = mx::subtract(shifted, mx::mean(shifted, axis, true, s), s);
  mx::array var = mx::mean(mx::square(centred, s), axis, true, s);
  mx::array y = mx::multiply(centred, mx::rsqrt(mx::add(var, mx::array(kNormEps), s), s), s);
  return mx::add(mx::multiply(y, weight, s), bias, s);
}

static mx::array leaky_relu(const mx::array& x, mx::Stream s) {
  return mx::maximum(x, mx::multiply(x, mx::array(kLeak), s), s);
}

// MaxPool1d(3, stride 3) over time (`axis`, followed by at most one more axis); a trailing partial
// window is dropped.
static mx::array max_pool(const mx::array& x, int axis, mx::Stream s) {
  mx::Shape shape = x.shape(), end = x.shape();
  const int frames = shape[axis] / kPool;
  end[axis] = frames * kPool;
  shape[axis] = frames;
  shape.insert(shape.begin() + axis + 1, kPool);
  return mx::max(mx::reshape(mx::slice(x, mx::Shape(x.ndim(), 0), end, s), shape, s), axis + 1, false, s);
}

// SincNet on the CPU, channel-major ([C, B, T]) so that every convolution is a direct_conv over the
// batch's frames laid end to end: the stride-10 sinc convolution is 251 taps over the 10 phases of the
// waveform (tap k reads phase k % 10 at frame offset k / 10), the others 5 taps at offsets 0-4. Frames
// whose window runs into the next item (or the zero tail) are computed and dropped.
mx::array PyanNet::sincnet_direct(mx::array x) const {
  const mx::Stream s = stream_;
  constexpr int kTail = 32;  // zero columns after the last item: direct_conv reads up to a vector past it
  const int B = x.shape(0), L = x.shape(1), columns = (L + kSincStride - 1) / kSincStride, n = B * columns + kTail;
  x = mx::reshape(instance_norm(mx::expand_dims(x, 2, s), norm_weight_[0], norm_bias_[0], 1, s), {B, L}, s);
  mx::array phases = mx::pad(x, {{0, 0}, {0, columns * kSincStride - L}}, mx::array(0.0f), "constant", s);
  phases = mx::reshape(mx::transpose(mx::reshape(phases, {B, columns, kSincStride}, s), {2, 0, 1}, s),
                       {kSincStride, 1, B * columns}, s);
  phases = mx::pad(phases, {{0, 0}, {1, 1}, {0, kTail}}, mx::array(0.0f), "constant", s);  // [10, 3, n]
  std::vector<mx::array> sources;
  for (int r = 0; r < kSincStride; ++r) {
    sources.push_back(mx::reshape(mx::slice(phases, {r, 0, 0}, {r + 1, 3, n}, s), {3, n}, s));
  }
  std::vector<TapSource> taps;
  for (int k = 0; k < kSincKernel; ++k) taps.push_back({k % kSincStride, k / kSincStride});
  // pyannote takes the magnitude of the sinc filters' responses
  mx::array y = direct_conv(conv_packed_[0], sources, taps, std::nullopt, std::nullopt, Activation::abs, s);
  int channels = kSincFilters, frames = (L - kSincKernel) / kSincStride + 1, stride = columns;
  for (int c = 0; c < 3; ++c) {
    if (c > 0) {
      const int width = B * stride;
      mx::array source = mx::pad(mx::reshape(y, {channels, width}, s), {{1, 1}, {0, kTail}}, mx::array(0.0f),
                                 "constant", s);
      std::vector<TapSource> conv_taps;
      for (int k = 0; k < kConvKernel; ++k) conv_taps.push_back({0, k});
      y = direct_conv(conv_packed_[c], {source}, conv_taps, std::nullopt, std::nullopt, Activation::none, s);
      channels = kConvChannels;
      frames -= kConvKernel - 1;
    }
    // [C, B, frames] out of the [C' + 2, B * stride + tail] output
    y = mx::reshape(mx::slice(y, {1, 0}, {channels + 1, B * stride}, s), {channels, B, stride}, s);
    y = mx::slice(y, {0, 0, 0}, {channels, B, frames}, s);
    const mx::array weight = mx::reshape(norm_weight_[c + 1], {channels, 1, 1}, s);
    const mx::array bias = mx::reshape(norm_bias_[c + 1], {channels, 1, 1}, s);
    y = leaky_relu(instance_norm(max_pool(y, 2, s), weight, bias, 2, s), s);
    frames /= kPool;
    stride = frames;
    y = mx::contiguous(y, false, s);
  }
  return mx::transpose(y, {1, 2, 0}, s);
}

// [B, L] waveforms -> [B, frames, 60] features, channels last.
mx::array PyanNet::sincnet(mx::array x) const {
  const mx::Stream s = stream_;
  if (!conv_packed_.empty()) return sincnet_direct(x);
  x = instance_norm(mx::expand_dims(x, 2, s), norm_weight_[0], norm_bias_[0], 1, s);
  for (int c = 0; c < 3; ++c) {
    x = mx::conv1d(x, conv_weight_[c], c == 0 ? kSincStride : 1, 0, 1, 1, s);
    // pyannote takes the magnitude of the sinc filters' responses
    x = c == 0 ? mx::abs(x, s) : mx::add(x, conv_bias_[c - 1], s);
    x = leaky_relu(instance_norm(max_pool(x, 1, s), norm_weight_[c + 1], norm_bias_[c + 1], 1, s), s);
  }
  return x;
}

// The recurrence through MLX operations (GPU streams, and the CPU with WESPEAKER_CPU_KERNEL=mlx; our CPU
// kernel lstm_recurrence() computes the same):
// gates [B, T, 2, 4H] -> [B, T, 2H]. Both directions advance together: step s computes the forward cell
// at frame s and the backward cell at frame T - 1 - s as one batched product with the stacked [2, H, 4H]
// recurrent weights.
static mx::array recurrence(const mx::array& gates, const LstmLayer& layer, mx::Stream s) {
  const int B = gates.shape(0), T = gates.shape(1);
  mx::array h = mx::zeros({2, B, kHidden}, mx::float32, s), c = h;
  std::vector<mx::array> forward(T, h), backward(T, h);
  for (int step = 0; step < T; ++step) {
    auto frame = [&](int t, int direction) {
      return mx::reshape(mx::slice(gates, {0, t, direction, 0}, {B, t + 1, direction + 1, kGates}, s), {B, kGates}, s);
    };
    mx::array g = mx::stack({frame(step, 0), frame(T - 1 - step, 1)}, 0, s);
    g = mx::add(g, mx::matmul(h, layer.w_hh_t, s), s);
    auto gate = [&](int k) { return mx::slice(g, {0, 0, k * kHidden}, {2, B, (k + 1) * kHidden}, s); };
    const mx::array i = mx::sigmoid(gate(0), s), f = mx::sigmoid(gate(1), s);
    const mx::array cell = mx::tanh(gate(2), s), o = mx::sigmoid(gate(3), s);
    c = mx::add(mx::multiply(f, c, s), mx::multiply(i, cell, s), s);
    h = mx::multiply(o, mx::tanh(c, s), s);
    forward[step] = mx::take(h, 0, 0, s);
    backward[T - 1 - step] = mx::take(h, 1, 0, s);
  }
  return mx::concatenate({mx::stack(forward, 1, s), mx::stack(backward, 1, s)}, 2, s);
}

// x [B, T, In] -> [B, T, 2H] through the 4 bidirectional layers.
mx::array PyanNet::lstm(mx::array x) const {
  const mx::Stream s = stream_;
  for (const auto& layer : lstm_) {
    const int B = x.shape(0), T = x.shape(1);
    // Input projections for all frames and both directions at once: [B, T, 2, 4H].
    mx::array gates = mx::reshape(mx::add(mx::matmul(x, layer.w_ih_t, s), layer.bias, s), {B, T, 2, kGates}, s);
    gates = mx::contiguous(gates, false, s);
    x = cpu_kernels_ ? lstm_recurrence(gates, layer.w_hh_t, s) : recurrence(gates, layer, s);
    mx::eval(x);  // bounds the graph to one layer's steps
  }
  return x;
}

void PyanNet::segment(const float* waveforms, int64_t batch, int64_t samples, float* out) {
  if (!waveforms) invalid("waveforms is NULL");
  if (batch < 1) invalid("batch must be at least 1, got " + std::to_string(batch));
  const int64_t frames = segmentation_frames(samples);
  if (frames < 1) {
    invalid("samples must be at least " + std::to_string(WESPEAKER_SEGMENTATION_MIN_SAMPLES) +
            " (one output frame at 16 kHz), got " + std::to_string(samples));
  }
  if (samples > WESPEAKER_SEGMENTATION_MAX_SAMPLES / batch) {
    invalid("batch x samples = " + std::to_string(batch) + " x " + std::to_string(samples) +
            " exceeds the per-call limit of " + std::to_string(WESPEAKER_SEGMENTATION_MAX_SAMPLES) +
            " samples: segment in smaller batches of 10 s chunks");
  }
  if (!out) invalid("out is NULL");
  for (int64_t k = 0; k < batch * samples; ++k) {
    if (!std::isfinite(waveforms[k])) {
      invalid("waveforms[" + std::to_string(k / samples) + ", " + std::to_string(k % samples) + "] is " +
              (std::isnan(waveforms[k]) ? "NaN" : "infinite"));
    }
  }

  std::lock_guard<std::mutex> lock(mutex_);
  // On the CPU one chunk at a time: a batch's SincNet activations (~5 MB a chunk) outgrow the caches, and
  // 8 chunks in one pass took ~7% longer than 8 passes of one. A chunk's result does not depend on its
  // neighbours.
  const int64_t step = cpu_kernels_ ? kCpuChunksPerPass : batch;
  for (int64_t b0 = 0; b0 < batch; b0 += step) {
    const int64_t b1 = std::min(batch, b0 + step);
    segment_pass(waveforms + b0 * samples, b0, b1 - b0, samples, out + b0 * frames * kClasses);
  }
}

void PyanNet::segment_pass(const float* waveforms, int64_t first, int64_t batch, int64_t samples, float* out) const {
  const mx::Stream s = stream_;
  mx::array x(waveforms, {int(batch), int(samples)});
  x = sincnet(x);
  x = lstm(x);
  for (size_t k = 0; k < linear_weight_t_.size(); ++k) {
    x = mx::add(mx::matmul(x, linear_weight_t_[k], s), linear_bias_[k], s);
    if (k + 1 < linear_weight_t_.size()) x = leaky_relu(x, s);
  }
  x = mx::subtract(x, mx::logsumexp(x, -1, true, s), s);
  x = mx::contiguous(x, false, s);
  mx::eval(x);

  const float* result = x.data<float>();
  const int64_t frames = x.shape(1), count = batch * frames * kClasses;
  for (int64_t k = 0; k < count; ++k) {
    if (!std::isfinite(result[k])) {
      throw std::runtime_error("segmentation of chunk " + std::to_string(first + k / (frames * kClasses)) +
                               " is not finite at frame " + std::to_string(k / kClasses % frames));
    }
  }
  std::memcpy(out, result, count * sizeof(float));
}

}  // namespace wespeaker
