#include "stream_pool.h"

#include <mlx/device.h>

#include <mutex>
#include <vector>

namespace mx = mlx::core;

namespace wespeaker {
namespace {

struct Pool {
  std::mutex mutex;
  std::vector<mx::Stream> idle;
};

// Deliberately never destroyed: handles may still be released during static destruction at exit.
Pool& pool() {
  static Pool* instance = new Pool();
  return *instance;
}

}  // namespace

mx::Stream acquire_stream() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  if (!p.idle.empty()) {
    mx::Stream s = p.idle.back();
    p.idle.pop_back();
    return s;
  }
  return mx::new_thread_unsafe_stream(mx::default_device());
}

void release_stream(mx::Stream stream) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.idle.push_back(stream);
}

}  // namespace wespeaker
