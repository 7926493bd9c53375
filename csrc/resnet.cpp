#include "resnet.h"

#include <mlx/io.h>
#include <mlx/ops.h>
#include <mlx/transforms.h>

#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

#include "cpu_isa.h"
#include "errors.h"
#include "tensors.h"
#include "wespeaker.h"

namespace mx = mlx::core;

namespace wespeaker {
namespace {

// wespeaker ResNet34: BasicBlocks per stage, their channels, and the stride of each stage's first block.
constexpr int kStageBlocks[4] = {3, 4, 6, 3};
constexpr int kStageChannels[4] = {32, 64, 128, 256};
constexpr int kStageStrides[4] = {1, 2, 2, 2};
constexpr int kStemChannels = 32;
constexpr int kPooledBins = WESPEAKER_NUM_MEL_BINS / 8;                     // frequency after 3 stride-2 stages
constexpr int kStatsDim = 2 * kStageChannels[3] * kPooledBins;              // mean and std: 5120
constexpr int64_t kMaxFrames = int64_t(1) << 24;                            // ~46 hours of 10 ms frames
constexpr int64_t kMaxElements = int64_t(1) << 31;                          // per input array
// Activations grow with batch x frames (about 37 KB per frame at the widest layer, all alive at
// once in a graph): past ~22 minutes of audio in one call the peak would outgrow typical machines,
// so longer input is refused with a pointer to windowed embedding rather than risking the OOM killer.
constexpr int64_t kMaxBatchFrames = WESPEAKER_MAX_BATCH_FRAMES;
// The trunk runs on pieces at a time: a long clip cut into kPieceFrames frames, short clips grouped up
// to kGroupFrames frames in all, which bounds its memory whatever the request. Each time piece is
// computed with kHalo more frames on either side: more than what a level-3 frame depends on (3x3 convs and
// strides, summed over the layers, reach 112 input frames each way), and a multiple of 32 so that the
// piece's Winograd tiles (4 frames wide at every level) lie where the whole clip's do. The frames it keeps
// are then the whole clip's up to float32 rounding: F(4, 3) lets the other points of a tile into an output's
// rounding, and those reach further than its window (a 5000-frame clip: raw embeddings within 4e-7).
constexpr int64_t kPieceFrames = 2048;
// Larger groups only outgrow the cache (16 clips of 10 s: 3-4% slower per clip in pairs than one at a time).
constexpr int64_t kGroupFrames = 1024;
constexpr int64_t kHalo = 128;

// The Winograd tile of the stride-1 3x3 convs at a resolution of `bins` frequency bins: 4x4 outputs where the
// bins divide by 4 (80, 40, 20), 2 bins by 4 frames at the last level (10). Tiles never straddle items.
std::array<int, 2> winograd_tile(int bins) {
  return {bins % 4 == 0 ? 4 : 2, 4};
}

// [O, kH, kW, I] weights become [kH * kW, O + 2, I] taps and the bias [O + 2, 1], both with zero guard rows;
// for our CPU kernels (`packed`), direct_conv's packing of the [kH * kW, O, I] taps instead, or
// winograd_conv's for the stride-1 3x3 convs of the blocks at `bins` frequency bins (faster at every width
// of the trunk, 32 channels included).
Conv take_conv(TensorTaker& taker, bool packed, const std::string& prefix, int out, int kernel, int in,
               int bins = 0) {
  const mx::Stream s = taker.stream();
  mx::array weight = taker.take(prefix + ".weight", {out, kernel, kernel, in});
  mx::array bias = taker.take(prefix + ".bias", {out});
  mx::array taps = mx::transpose(mx::reshape(weight, {out, kernel * kernel, in}, s), {1, 0, 2}, s);
  if (packed) {
    if (!bins) return Conv{mx::array(0.0f), mx::array(0.0f), pack_conv(taps, bias, s)};
    const auto [rows, cols] = winograd_tile(bins);
    return Conv{mx::array(0.0f), mx::array(0.0f), pack_winograd(taps, bias, rows, cols, s)};
  }
  taps = mx::pad(taps, {{0, 0}, {1, 1}, {0, 0}}, mx::array(0.0f), "constant", s);
  return Conv{mx::contiguous(taps, false, s),
              mx::reshape(mx::pad(bias, {1, 1}, mx::array(0.0f), "constant", s), {out + 2, 1}, s), std::nullopt};
}

// The taps of a 3x3 conv (pad 1) on a grid of `cols` columns: stride 1 reads its one source around each
// output point; stride 2 reads four phase planes (see phases()), each on the output grid, the tap at
// input (2i + di, 2j + dj) from plane (di & 1, dj & 1) at (i + floor(di / 2), j + floor(dj / 2)).
std::vector<TapSource> taps3x3(int stride, int64_t cols) {
  std::vector<TapSource> taps;
  for (int di = -1; di <= 1; ++di) {
    for (int dj = -1; dj <= 1; ++dj) {
      if (stride == 1) {
        taps.push_back({0, di * cols + dj});
      } else {
        taps.push_back({(di & 1) * 2 + (dj & 1), (di < 0 ? -cols : 0) + (dj < 0 ? -1 : 0)});
      }
    }
  }
  return taps;
}

[[noreturn]] void invalid(const std::string& what) { throw InvalidArgument(what); }

int64_t halve(int64_t n) { return (n + 1) / 2; }  // a stride-2, pad-1 (or 1x1 pad-0) conv

// Source index of PyTorch's F.interpolate(mode="nearest") on CPU, float arithmetic included.
int64_t nearest_source(int64_t i, int64_t in_size, int64_t out_size) {
  if (in_size == out_size) return i;
  if (out_size == 2 * in_size) return i >> 1;
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  return std::min(static_cast<int64_t>(std::floor(static_cast<float>(i) * scale)), in_size - 1);
}

void validate(const EmbedRequest& r) {
  if (!r.features) invalid("features is NULL");
  if (!r.out) invalid("out is NULL");
  if (r.batch < 1) invalid("batch must be at least 1, got " + std::to_string(r.batch));
  if (r.frames < WESPEAKER_MIN_FRAMES || r.frames > kMaxFrames) {
    invalid("frames must be in [" + std::to_string(WESPEAKER_MIN_FRAMES) + ", " + std::to_string(kMaxFrames) +
            "], got " + std::to_string(r.frames) + " (at least 0.1 s of audio is needed)");
  }
  if (r.batch > kMaxBatchFrames / r.frames) {
    invalid("batch x frames = " + std::to_string(r.batch) + " x " + std::to_string(r.frames) +
            " exceeds the per-call limit of " + std::to_string(kMaxBatchFrames) +
            " frames (about 22 minutes of audio): embed long audio in windows (embedWindows) or in smaller batches");
  }
  for (int64_t b = 0; r.lengths && b < r.batch; ++b) {
    if (r.lengths[b] < WESPEAKER_MIN_FRAMES || r.lengths[b] > r.frames) {
      invalid("lengths[" + std::to_string(b) + "] must be in [" + std::to_string(WESPEAKER_MIN_FRAMES) + ", " +
              std::to_string(r.frames) + "], got " + std::to_string(r.lengths[b]));
    }
  }
  for (int64_t b = 0; b < r.batch; ++b) {
    const int64_t valid = r.lengths ? r.lengths[b] : r.frames;
    const float* item = r.features + b * r.frames * WESPEAKER_NUM_MEL_BINS;
    for (int64_t k = 0; k < valid * WESPEAKER_NUM_MEL_BINS; ++k) {
      if (!std::isfinite(item[k])) {
        invalid("features[" + std::to_string(b) + ", " + std::to_string(k / WESPEAKER_NUM_MEL_BINS) + ", " +
                std::to_string(k % WESPEAKER_NUM_MEL_BINS) + "] is " + (std::isnan(item[k]) ? "NaN" : "infinite"));
      }
    }
  }
  if (!r.weights) return;
  if (r.num_masks < 1 || r.num_masks > 1024) {
    invalid("num_masks must be in [1, 1024], got " + std::to_string(r.num_masks));
  }
  if (r.weight_frames < 1 || r.weight_frames > kMaxFrames ||
      r.batch * r.num_masks > kMaxElements / r.weight_frames) {
    invalid("weight_frames must be in [1, " + std::to_string(kMaxFrames) + "] (and the weights array of sane size), got " +
            std::to_string(r.weight_frames));
  }
  for (int64_t row = 0; row < r.batch * r.num_masks; ++row) {
    const float* w = r.weights + row * r.weight_frames;
    double total = 0;
    for (int64_t t = 0; t < r.weight_frames; ++t) {
      if (!std::isfinite(w[t]) || w[t] < 0) {
        invalid("weights[" + std::to_string(row / r.num_masks) + ", " + std::to_string(row % r.num_masks) + ", " +
                std::to_string(t) + "] must be finite and >= 0, got " + std::to_string(w[t]));
      }
      total += w[t];
    }
    if (total <= 0 && !r.empty_masks) {
      invalid("weights[" + std::to_string(row / r.num_masks) + ", " + std::to_string(row % r.num_masks) +
              "] are all zero: there is nothing to pool");
    }
  }
}

}  // namespace

ResNet34::ResNet34(const std::string& path, mx::Stream stream)
    : stream_(stream),
      conv1_{mx::array(0.0f), mx::array(0.0f), std::nullopt},
      embedding_weight_t_(mx::array(0.0f)),
      embedding_bias_(mx::array(0.0f)) {
  TensorTaker taker(read_safetensors(path, stream_), path, stream_);
  // Our own kernels on the CPU; on a GPU (or with WESPEAKER_CPU_KERNEL=mlx) the per-tap products of conv().
  const bool packed = stream_.device == mx::Device::cpu && cpu_kernels_enabled();
  conv1_ = take_conv(taker, packed, "conv1", kStemChannels, 3, 1);
  int in = kStemChannels;
  for (int stage = 0; stage < 4; ++stage) {
    const int out = kStageChannels[stage];
    for (int b = 0; b < kStageBlocks[stage]; ++b) {
      const std::string prefix = "layer" + std::to_string(stage + 1) + "." + std::to_string(b) + ".";
      const int stride = b == 0 ? kStageStrides[stage] : 1;
      const int bins = WESPEAKER_NUM_MEL_BINS >> stage;
      BasicBlock block{take_conv(taker, packed, prefix + "conv1", out, 3, in, stride == 1 ? bins : 0),
                       take_conv(taker, packed, prefix + "conv2", out, 3, out, bins), std::nullopt, stride};
      if (stride != 1 || in != out) block.shortcut = take_conv(taker, packed, prefix + "shortcut", out, 1, in);
      blocks_.push_back(std::move(block));
      in = out;
    }
  }
  mx::array embedding_weight = taker.take("embedding.weight", {WESPEAKER_EMBEDDING_DIM, kStatsDim});
  embedding_bias_ = taker.take("embedding.bias", {WESPEAKER_EMBEDDING_DIM});
  taker.expect_empty();
  embedding_weight_t_ = mx::contiguous(mx::transpose(embedding_weight, stream_), false, stream_);

  // Materialise now: a file that cannot be read fails here, not in the first embed.
  std::vector<mx::array> all{embedding_weight_t_, embedding_bias_};
  auto add = [&all](const Conv& c) {
    all.insert(all.end(), {c.taps, c.bias});
    if (c.packed) all.insert(all.end(), {c.packed->weights, c.packed->bias});
  };
  add(conv1_);
  for (const auto& block : blocks_) {
    add(block.conv1);
    add(block.conv2);
    if (block.shortcut) add(*block.shortcut);
  }
  taker.materialise(all);
}

// The trunk's activations are channel-major on a grid with zero margins. At a resolution of F bins by
// T frames (a Grid), an activation with C channels is a [C + 2, N] array, N = B * (F + 1) * (T + 1):
// row 1 + c holds channel c, and column b * (F + 1) * (T + 1) + i * (T + 1) + j holds bin i, frame j of
// item b for i < F, j < T. Column j = T of each bin and row i = F of each item are zero, and so are
// rows 0 and C + 1 (guard rows): whichever way a 3x3 kernel steps off an item, it lands on a zero,
// which plays the part of the convolution's zero padding.
//
// A convolution is then one matrix product per kernel tap, accumulated: [O + 2, C] weights times the
// input read at the tap's grid offset. For a stride-1 conv that read is a plain view, [C, N] with row
// stride N, which BLAS takes in place: there is no im2col copy at all, and the products are wide
// (N columns) where MLX's conv2d on [B, F, T, C] makes a 9x larger im2col and a narrow GEMM. The
// views run up to T + 3 columns past either end of a channel's row, into the guard rows.
// Outputs on the margins (which mix in neighbouring bins, items and channels) and past an item's
// length are zeroed by the grid's mask after every layer, so the margins stay zero and each padded
// item computes exactly what its unpadded clip would. The guard rows stay zero through zero weight rows.

// The [O + 2, N_out] accumulation acc + sum over taps of c.taps[tap] @ x read at that tap.
mx::array ResNet34::conv(mx::array acc, const mx::array& x, const Conv& c, const Grid& in, const Grid& out,
                         int stride) const {
  const int C = x.shape(0) - 2, kernel = c.taps.shape(0) == 9 ? 3 : 1;
  const int64_t N = in.N();
  for (int kh = 0; kh < kernel; ++kh) {
    for (int kw = 0; kw < kernel; ++kw) {
      // Output point (i, j) reads input point (stride * i + di, stride * j + dj).
      const int64_t di = kh - kernel / 2, dj = kw - kernel / 2;
      mx::array tap = mx::as_strided(x, {C, int(out.B), int(out.rows()), int(out.cols())},
                                     {N, in.item(), stride * in.cols(), stride},
                                     size_t(N + di * in.cols() + dj), stream_);
      // A view for stride 1; a copy (a quarter of the input) for stride 2.
      tap = mx::reshape(tap, {C, out.N()}, stream_);
      acc = mx::addmm(acc, mx::take(c.taps, kh * kernel + kw, 0, stream_), tap, 1.0f, 1.0f, stream_);
    }
  }
  return acc;
}

mx::array ResNet34::activate(const mx::array& x, const Grid& grid) const {
  return mx::multiply(mx::maximum(x, mx::array(0.0f), stream_), grid.mask, stream_);
}

// Evaluating conv1 first frees x of its readers, so that conv2 accumulates in x's own buffer (x + bias
// takes it over when x is not referenced elsewhere): a block holds two activations at a time, not
// three, and allocates one.
mx::array ResNet34::block(mx::array x, const BasicBlock& b, const Grid& in, const Grid& out) const {
  mx::array y = activate(conv(b.conv1.bias, x, b.conv1, in, out, b.stride), out);
  mx::eval(y);
  if (b.shortcut) x = conv(b.shortcut->bias, x, *b.shortcut, in, out, b.stride);
  return activate(conv(mx::add(x, b.conv2.bias, stream_), y, b.conv2, out, out, 1), out);
}

// The points (2i + a, 2j + b) of a [C + 2, N] activation on grid `in` as four [C + 2, N'] planes on
// grid `out` (zero margins and guard rows), plane a * 2 + b: what a stride-2 conv reads, as contiguous
// rows.
std::vector<mx::array> phases(const mx::array& x, const Grid& in, const Grid& out, mx::Stream s) {
  const int C = x.shape(0) - 2;
  std::vector<mx::array> planes;
  for (int a = 0; a < 2; ++a) {
    for (int b = 0; b < 2; ++b) {
      mx::array plane = mx::as_strided(x, {C, int(out.B), int(out.F), int(out.T)},
                                       {in.N(), in.item(), 2 * in.cols(), 2}, size_t(in.N() + a * in.cols() + b), s);
      plane = mx::pad(plane, {{1, 1}, {0, 0}, {0, 1}, {0, 1}}, mx::array(0.0f), "constant", s);
      planes.push_back(mx::reshape(plane, {C + 2, out.N()}, s));
    }
  }
  return planes;
}

// block() through the direct-convolution primitive: conv1 and the shortcut read x (or its phase planes)
// where block() reads x at each tap, and conv2 takes the shortcut (or x) as its residual, writing over it.
mx::array ResNet34::direct_block(mx::array x, const BasicBlock& b, const Grid& in, const Grid& out) const {
  std::vector<mx::array> sources = b.stride == 1 ? std::vector<mx::array>{x} : phases(x, in, out, stream_);
  mx::array y = conv3x3(*b.conv1.packed, sources, b.stride, out, std::nullopt);
  mx::eval(y);
  if (b.shortcut) {
    x = direct_conv(*b.shortcut->packed, {sources.front()}, {{0, 0}}, std::nullopt, std::nullopt, Activation::none,
                    stream_);
  }
  sources.clear();
  return conv3x3(*b.conv2.packed, {y}, 1, out, std::move(x));
}

// A 3x3 conv with ReLU and the mask of grid `out`, by Winograd where its weights are packed for it.
mx::array ResNet34::conv3x3(const PackedConv& c, const std::vector<mx::array>& sources, int stride, const Grid& out,
                            std::optional<mx::array> residual) const {
  if (c.tile_rows) {
    return winograd_conv(c, sources.front(), out.cols(), out.rows(), residual, out.mask, Activation::relu, stream_);
  }
  return direct_conv(c, sources, taps3x3(stride, out.cols()), residual, out.mask, Activation::relu, stream_);
}

// x: the [3, N] input (one channel) on grids[0]; returns the last stage's [258, N] on grids[3].
mx::array ResNet34::trunk(mx::array x, const std::vector<Grid>& grids) const {
  size_t level = 0;
  const bool direct = conv1_.packed.has_value();
  x = direct ? conv3x3(*conv1_.packed, {x}, 1, grids[0], std::nullopt)
             : activate(conv(conv1_.bias, x, conv1_, grids[0], grids[0], 1), grids[0]);
  for (const auto& b : blocks_) {
    const size_t from = level;
    if (b.stride != 1) ++level;
    x = direct ? direct_block(std::move(x), b, grids[from], grids[level])
               : block(std::move(x), b, grids[from], grids[level]);
  }
  return x;
}

// The trunk's output frames for items [b0, b1) and input frames [c0, c1), c0 a multiple of 8:
// [b1 - b0, ceil(c1 / 8) - c0 / 8, C * F'] in PyTorch's (C, F') flattening order.
mx::array ResNet34::trunk_frames(const EmbedRequest& r, const std::vector<std::array<int64_t, 4>>& valid,
                                 int64_t b0, int64_t b1, int64_t c0, int64_t c1) const {
  const int64_t w0 = std::max<int64_t>(0, c0 - kHalo), w1 = std::min(r.frames, c1 + kHalo);
  const int64_t B = b1 - b0, F = WESPEAKER_NUM_MEL_BINS;

  // The grids of frames [w0, w1), each with its mask of valid points.
  std::vector<Grid> grids;
  for (int64_t l = 0, T = w1 - w0; l < 4; ++l, T = halve(T)) {
    Grid g{B, F >> l, T, mx::array(0.0f)};
    std::vector<float> m(g.N(), 0.0f);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = std::clamp(valid[b0 + b][l] - (w0 >> l), int64_t(0), T);
      for (int64_t i = 0; i < g.F; ++i) std::fill_n(m.begin() + b * g.item() + i * g.cols(), n, 1.0f);
    }
    g.mask = mx::array(m.begin(), {1, g.N()});
    grids.push_back(std::move(g));
  }

  // The features on grids[0] (see conv()), the padding zeroed whatever the caller left there.
  const Grid& g0 = grids[0];
  std::vector<float> input(3 * int64_t(g0.N()), 0.0f);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = w0; t < std::min(w1, valid[b0 + b][0]); ++t) {
      const float* row = r.features + ((b0 + b) * r.frames + t) * F;
      float* point = input.data() + g0.N() + b * g0.item() + t - w0;  // row 1 (the channel), bin 0
      for (int64_t m = 0; m < F; ++m) point[m * g0.cols()] = row[m];
    }
  }

  const Grid& g3 = grids[3];
  mx::array x = trunk(mx::array(input.begin(), {3, g0.N()}), grids);  // [C + 2, N] on g3
  const int C = x.shape(0) - 2, iB = int(B), k0 = int((c0 - w0) / 8), k1 = k0 + int(halve(halve(halve(c1))) - c0 / 8);
  x = mx::reshape(x, {C + 2, iB, int(g3.rows()), int(g3.cols())}, stream_);
  x = mx::slice(x, {1, 0, 0, k0}, {C + 1, iB, int(g3.F), k1}, stream_);  // [C, B, F', k1 - k0]
  x = mx::reshape(mx::transpose(x, {1, 3, 0, 2}, stream_), {iB, k1 - k0, C * int(g3.F)}, stream_);
  mx::eval(x);
  return x;
}

void ResNet34::embed(const EmbedRequest& r) {
  validate(r);
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t B = r.batch, T = r.frames;
  const int64_t S = r.weights ? r.num_masks : 1;

  // Per item, valid frames at each of the four time resolutions of the trunk.
  std::vector<std::array<int64_t, 4>> valid(B);
  for (int64_t b = 0; b < B; ++b) {
    valid[b][0] = r.lengths ? r.lengths[b] : T;
    for (int l = 1; l < 4; ++l) valid[b][l] = halve(valid[b][l - 1]);
  }
  const int64_t T3 = halve(halve(halve(T)));

  // Pooling weights per (item, mask) over the trunk's frames, and the normalisers that turn the
  // weighted sums into wespeaker's TSTP (plain) or pyannote's StatsPool (weighted) statistics.
  std::vector<float> pool(B * S * T3, 0.0f), mean_div(B * S), var_div(B * S), var_eps(B * S);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = valid[b][3];
    for (int64_t s = 0; s < S; ++s) {
      float* p = pool.data() + (b * S + s) * T3;
      const int64_t k = b * S + s;
      if (!r.weights) {
        std::fill_n(p, n, 1.0f);
        mean_div[k] = float(n);
        var_div[k] = float(n - 1);
        var_eps[k] = 1e-7f;
        continue;
      }
      const float* w = r.weights + k * r.weight_frames;
      float v1 = 0, v2 = 0;
      for (int64_t t = 0; t < n; ++t) {
        p[t] = w[nearest_source(t, r.weight_frames, n)];
        v1 += p[t];
        v2 += p[t] * p[t];
      }
      if (v1 <= 0 && !r.empty_masks) {
        invalid("weights[" + std::to_string(b) + ", " + std::to_string(s) +
                "] are zero on every frame the trunk keeps: there is nothing to pool");
      }
      v1 += 1e-8f;
      mean_div[k] = v1;
      var_div[k] = v1 - v2 / v1 + 1e-8f;
      var_eps[k] = 0.0f;
    }
  }

  // [B, T3, C * F'] from the trunk, piece by piece.
  const int64_t group = std::max<int64_t>(1, kGroupFrames / T);
  std::vector<mx::array> items;
  for (int64_t b0 = 0; b0 < B; b0 += group) {
    std::vector<mx::array> times;
    for (int64_t c0 = 0; c0 < T; c0 += kPieceFrames) {
      times.push_back(trunk_frames(r, valid, b0, std::min(B, b0 + group), c0, std::min(T, c0 + kPieceFrames)));
    }
    items.push_back(mx::concatenate(times, 1, stream_));
  }
  mx::array frames = mx::concatenate(items, 0, stream_);
  const int iB = int(B), iS = int(S);
  mx::array p(pool.begin(), {iB, iS, int(T3)});
  auto per_row = [&](const std::vector<float>& v) { return mx::array(v.begin(), {iB, iS, 1}); };
  mx::array mean = mx::divide(mx::matmul(p, frames, stream_), per_row(mean_div), stream_);  // [B, S, C*F']
  mx::array dev = mx::square(
      mx::subtract(mx::expand_dims(frames, 1, stream_), mx::expand_dims(mean, 2, stream_), stream_), stream_);
  mx::array sq = mx::squeeze(mx::matmul(mx::expand_dims(p, 2, stream_), dev, stream_), 2, stream_);
  mx::array stdev = mx::sqrt(mx::add(mx::divide(sq, per_row(var_div), stream_), per_row(var_eps), stream_), stream_);
  mx::array stats = mx::concatenate({mean, stdev}, 2, stream_);  // [B, S, 5120]
  mx::array emb = mx::add(mx::matmul(stats, embedding_weight_t_, stream_), embedding_bias_, stream_);
  if (!r.raw) {
    emb = mx::divide(emb, mx::sqrt(mx::sum(mx::square(emb, stream_), -1, true, stream_), stream_), stream_);
  }
  emb = mx::contiguous(emb, false, stream_);
  mx::eval(emb);

  const float* result = emb.data<float>();
  const int64_t count = B * S * WESPEAKER_EMBEDDING_DIM;
  for (int64_t k = 0; k < count; ++k) {
    if (!std::isfinite(result[k])) {
      const int64_t row = k / WESPEAKER_EMBEDDING_DIM;
      throw std::runtime_error("embedding of item " + std::to_string(row / S) + (r.weights ? ", mask " +
                               std::to_string(row % S) : std::string()) +
                               " is not finite (its raw norm is zero or the features overflow the network)");
    }
  }
  std::memcpy(r.out, result, count * sizeof(float));
}

}  // namespace wespeaker
