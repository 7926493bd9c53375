// pyannote segmentation-3.0 (PyanNet): SincNet, a 4-layer bidirectional LSTM, two Linear layers and a
// powerset classifier with log-softmax.
#pragma once

#include <mlx/array.h>
#include <mlx/stream.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "direct_conv.h"

namespace wespeaker {

struct LstmLayer {
  mlx::core::array w_ih_t;  // [In, 2 * 4H]: the forward direction's input weights, then the backward's
  mlx::core::array w_hh_t;  // [2, H, 4H]
  mlx::core::array bias;    // [2 * 4H]: b_ih + b_hh of each direction
};

// Output frames for a chunk of `samples` samples, 0 when it is shorter than one receptive field.
int64_t segmentation_frames(int64_t samples);

class PyanNet {
 public:
  // Reads, validates and materialises every tensor of a converted .safetensors file.
  // Throws IoError, FormatError or std::exception.
  PyanNet(const std::string& path, mlx::core::Stream stream);

  // waveforms [batch, samples] at 16 kHz -> out [batch, frames(samples), 7] log-probabilities.
  // Serialised per instance. Throws InvalidArgument or std::exception.
  void segment(const float* waveforms, int64_t batch, int64_t samples, float* out);

  mlx::core::Stream stream() const { return stream_; }

 private:
  mlx::core::array sincnet(mlx::core::array x) const;
  mlx::core::array lstm(mlx::core::array x) const;
  mlx::core::array sincnet_direct(mlx::core::array x) const;
  // segment() of chunks [first, first + batch), the checks done.
  void segment_pass(const float* waveforms, int64_t first, int64_t batch, int64_t samples, float* out) const;

  mlx::core::Stream stream_;
  bool cpu_kernels_;  // our direct_conv and LSTM kernels (a CPU stream, unless WESPEAKER_CPU_KERNEL=mlx)
  std::vector<mlx::core::array> norm_weight_, norm_bias_;  // wav_norm1d, then norm1d.0-2
  std::vector<mlx::core::array> conv_weight_, conv_bias_;  // MLX [O, K, I]; the sinc conv has no bias
  std::vector<PackedConv> conv_packed_;                    // the same for direct_conv, with cpu_kernels_
  std::vector<LstmLayer> lstm_;
  std::vector<mlx::core::array> linear_weight_t_, linear_bias_;  // linear.0, linear.1, classifier
  std::mutex mutex_;
};

}  // namespace wespeaker
