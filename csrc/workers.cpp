#include "workers.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace wespeaker {
namespace {

int thread_count() {
  for (const char* name : {"WESPEAKER_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* value = std::getenv(name)) {
      const int n = std::atoi(value);
      if (n > 0) return std::min(n, 256);
    }
  }
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

Workers& Workers::shared() {
  static Workers workers(thread_count());
  return workers;
}

Workers::Workers(int threads) {
  for (int i = 1; i < threads; ++i) threads_.emplace_back([this, i] { serve(i); });
}

Workers::~Workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void Workers::run(int parts, const std::function<void(int)>& part) {
  std::lock_guard<std::mutex> one_job(job_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    part_ = &part;
    parts_ = parts;
    pending_.store(parts - 1);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  part(0);
  while (pending_.load() > 0) std::this_thread::yield();
}

void Workers::serve(int index) {
  uint64_t seen = 0;
  for (;;) {
    const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(300);
    while (generation_.load() == seen && std::chrono::steady_clock::now() < spin_until) std::this_thread::yield();
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
    if (stop_) return;
    seen = generation_.load();
    const std::function<void(int)>* part = part_;
    const bool mine = index < parts_;
    lock.unlock();
    if (mine) {
      (*part)(index);
      pending_.fetch_sub(1);
    }
  }
}

}  // namespace wespeaker
