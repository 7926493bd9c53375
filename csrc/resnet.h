// WeSpeaker ResNet34 with BatchNorm fused into its convolutions, and statistics pooling.
#pragma once

#include <mlx/array.h>
#include <mlx/stream.h>

#include <cstdint>
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
  float* out = nullptr;  // [batch, num_masks or 1, 256]
};

struct Conv {
  mlx::core::array weight;  // [O, kH, kW, I], H = frequency, W = time
  mlx::core::array bias;    // [O]
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
  mlx::core::array conv(const mlx::core::array& x, const Conv& c, int stride) const;
  mlx::core::array relu(const mlx::core::array& x) const;
  mlx::core::array trunk(mlx::core::array x, const std::vector<mlx::core::array>& masks) const;

  mlx::core::Stream stream_;
  Conv conv1_;
  std::vector<BasicBlock> blocks_;
  mlx::core::array embedding_weight_t_;  // [5120, 256]
  mlx::core::array embedding_bias_;      // [256]
  std::mutex mutex_;
};

}  // namespace wespeaker
