// The threads that libwespeaker's own CPU kernels (direct_conv.cpp, lstm.cpp) share.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace wespeaker {

// Threads that stay alive between calls: starting one per call cost about as much as a small layer.
// After a job a worker spins briefly for the next (a network's layers follow each other within
// microseconds) before it sleeps. One job at a time; callers on other streams queue for it.
class Workers {
 public:
  // The process-wide pool: WESPEAKER_NUM_THREADS threads, else the BLAS's setting
  // (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS), else one per core; the caller counts as one.
  static Workers& shared();

  explicit Workers(int threads);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  int size() const { return int(threads_.size()) + 1; }

  // Calls part(i) for every i in [0, parts), parts <= size(); part 0 on the calling thread. part must
  // not throw.
  void run(int parts, const std::function<void(int)>& part);

 private:
  void serve(int index);

  std::vector<std::thread> threads_;
  std::mutex job_mutex_, mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  const std::function<void(int)>* part_ = nullptr;
  int parts_ = 0;
  bool stop_ = false;
};

}  // namespace wespeaker
