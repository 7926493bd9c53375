// SciPy's centroid linkage with memory linear in the number of points (see linkage.cpp).
#pragma once

#include <cstdint>
#include <memory>

namespace wespeaker {

class CentroidLinkage {
 public:
  // Copies the row-major [n, dim] points. Throws InvalidArgument (shape, a non-finite coordinate).
  CentroidLinkage(const double* points, int64_t n, int64_t dim);
  ~CentroidLinkage();
  CentroidLinkage(const CentroidLinkage&) = delete;
  CentroidLinkage& operator=(const CentroidLinkage&) = delete;

  // Units of work in all: n - 1 initial neighbour searches, then n - 1 merges.
  int64_t total() const;
  // Does up to `steps` more units, writing each merge's row of the [n - 1, 4] linkage matrix z (rows
  // written before stay as they are). Returns the units done so far. Throws InvalidArgument when a
  // distance overflows.
  int64_t run(int64_t steps, double* z);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace wespeaker
