// WeSpeaker ResNet34 with BatchNorm fused into its convolutions, and statistics pooling.
#pragma once

#include <mlx/array.h>
#include <mlx/stream.h>

#include "direct_conv.h"

#include <cstdint>
#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace wespeaker {

// One embed call, as described for wespeaker_embed() in wespeaker.h.
struct EmbedRequest {
  const float* features = nullptr;  // [batch, frames, 80]
  int64_t batch = 0;
  int64_t frames = 0;
  const int64_t* lengths = nullptr;  // [batch] or null
  const float* weights = nullptr;    // [batch, num_masks, weight_frames] or null
  int64_t num_masks = 0;
  int64_t weight_frames = 0;
  bool raw = false;
  bool empty_masks = false;  // WESPEAKER_EMBED_EMPTY_MASKS
  float* out = nullptr;  // [batch, num_masks or 1, 256]
};

// A convolution in the trunk's channel-major form (see resnet.cpp): one [O + 2, I] matrix per kernel tap,
// rows 0 and O + 1 zero so that the output keeps the activations' zero guard rows. On the CPU the same
// weights are held packed for direct_conv or winograd_conv instead (taps and bias are then scalars).
struct Conv {
  mlx::core::array taps;  // [kH * kW, O + 2, I], taps in (frequency, time) row-major order
  mlx::core::array bias;  // [O + 2, 1], zero guard rows
  std::optional<PackedConv> packed;
};

// One of the trunk's four resolutions for one embed call: B items of F frequency bins by T frames, laid
// out with zero margins (see resnet.cpp).
struct Grid {
  int64_t B, F, T;
  mlx::core::array mask;  // [1, N]: 1 on each item's valid frames, 0 on the margins and the padding

  int64_t rows() const { return F + 1; }
  int64_t cols() const { return T + 1; }
  int64_t item() const { return rows() * cols(); }
  int N() const { return int(B * item()); }
};

struct BasicBlock {
  Conv conv1;
  Conv conv2;
  std::optional<Conv> shortcut;  // 1x1, where the block changes stride or width
  int stride = 1;
};

class ResNet34 {
 public:
  // Reads, validates and materialises every tensor of a .safetensors file.
  // Throws IoError, FormatError or std::exception.
  ResNet34(const std::string& path, mlx::core::Stream stream);

  // Serialised per instance. Throws InvalidArgument or std::exception.
  void embed(const EmbedRequest& request);

  mlx::core::Stream stream() const { return stream_; }

 private:
  mlx::core::array conv(mlx::core::array acc, const mlx::core::array& x, const Conv& c, const Grid& in,
                        const Grid& out, int stride) const;
  mlx::core::array activate(const mlx::core::array& x, const Grid& grid) const;
  mlx::core::array block(mlx::core::array x, const BasicBlock& b, const Grid& in, const Grid& out) const;
  mlx::core::array trunk(mlx::core::array x, const std::vector<Grid>& grids) const;
  mlx::core::array conv3x3(const PackedConv& c, const std::vector<mlx::core::array>& sources, int stride,
                           const Grid& out, std::optional<mlx::core::array> residual) const;
  mlx::core::array direct_block(mlx::core::array x, const BasicBlock& b, const Grid& in, const Grid& out) const;
  mlx::core::array trunk_frames(const EmbedRequest& r, const std::vector<std::array<int64_t, 4>>& valid,
                                int64_t b0, int64_t b1, int64_t c0, int64_t c1) const;

  mlx::core::Stream stream_;
  Conv conv1_;
  std::vector<BasicBlock> blocks_;
  mlx::core::array embedding_weight_t_;  // [5120, 256]
  mlx::core::array embedding_bias_;      // [256]
  std::mutex mutex_;
};

}  // namespace wespeaker
