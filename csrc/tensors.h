// Reading a weights file: safetensors into memory, then tensor by tensor against an architecture.
#pragma once

#include <mlx/array.h>
#include <mlx/stream.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace wespeaker {

// "[2, 3]"
std::string shape_str(const mlx::core::Shape& shape);

// Every tensor of a .safetensors file, in host memory. Throws IoError (cannot open) or FormatError.
std::unordered_map<std::string, mlx::core::array> read_safetensors(const std::string& path,
                                                                   mlx::core::Stream stream);

// Takes tensors out of a loaded file, checking each name, shape and dtype. A network is assembled in a
// fixed order, so the first bad tensor reported is deterministic. Failures throw FormatError naming the
// file and the key.
class TensorTaker {
 public:
  TensorTaker(std::unordered_map<std::string, mlx::core::array> tensors, std::string path,
              mlx::core::Stream stream);

  // The tensor as float32 (float16 and bfloat16 are widened).
  mlx::core::array take(const std::string& name, const mlx::core::Shape& shape);

  // Anything not taken is a tensor the architecture does not have.
  void expect_empty();

  // Reads every array now and rejects NaN or infinite values, so a bad file fails at load time.
  void materialise(const std::vector<mlx::core::array>& arrays) const;

  [[noreturn]] void fail(const std::string& what) const;

  mlx::core::Stream stream() const { return stream_; }

 private:
  std::unordered_map<std::string, mlx::core::array> tensors_;
  std::string path_;
  mlx::core::Stream stream_;
};

}  // namespace wespeaker
