#include "tensors.h"

#include <mlx/io.h>
#include <mlx/ops.h>
#include <mlx/transforms.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "errors.h"

namespace mx = mlx::core;

namespace wespeaker {

std::string shape_str(const mx::Shape& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

std::unordered_map<std::string, mx::array> read_safetensors(const std::string& path, mx::Stream stream) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw IoError(path + ": cannot open file (" + std::strerror(errno) + ")");
  try {
    // Reading from disk is a CPU operation whatever device the model computes on.
    return stream.device == mx::Device::cpu ? mx::load_safetensors(path, stream).first
                                            : mx::load_safetensors(path, mx::Device::cpu).first;
  } catch (const std::exception& e) {
    throw FormatError(path + ": not a valid safetensors file: " + e.what());
  }
}

TensorTaker::TensorTaker(std::unordered_map<std::string, mx::array> tensors, std::string path, mx::Stream stream)
    : tensors_(std::move(tensors)), path_(std::move(path)), stream_(stream) {}

mx::array TensorTaker::take(const std::string& name, const mx::Shape& shape) {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail("missing tensor '" + name + "' (expected shape " + shape_str(shape) + ")");
  mx::array a = it->second;
  tensors_.erase(it);
  if (a.shape() != shape) {
    fail("tensor '" + name + "' has shape " + shape_str(a.shape()) + ", expected " + shape_str(shape));
  }
  if (a.dtype() != mx::float32 && a.dtype() != mx::float16 && a.dtype() != mx::bfloat16) {
    fail("tensor '" + name + "' has a non-floating dtype; expected float32");
  }
  return a.dtype() == mx::float32 ? a : mx::astype(a, mx::float32, stream_);
}

void TensorTaker::expect_empty() {
  if (tensors_.empty()) return;
  std::map<std::string, mx::array> sorted(tensors_.begin(), tensors_.end());
  fail("unexpected tensor '" + sorted.begin()->first + "' (" + std::to_string(tensors_.size()) +
       " unexpected in all)");
}

void TensorTaker::materialise(const std::vector<mx::array>& arrays) const {
  try {
    mx::eval(arrays);
  } catch (const std::exception& e) {
    fail(std::string("cannot read tensor data: ") + e.what());
  }
  for (const auto& a : arrays) {
    if (!mx::all(mx::isfinite(a, stream_), stream_).item<bool>()) fail("a tensor holds NaN or infinite values");
  }
}

void TensorTaker::fail(const std::string& what) const { throw FormatError(path_ + ": " + what); }

}  // namespace wespeaker
