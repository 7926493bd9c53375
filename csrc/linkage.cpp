// Centroid (UPGMC) hierarchical clustering as scipy.cluster.hierarchy.linkage(X, method="centroid")
// computes it (scipy 1.17), in memory linear in the number of points.
//
// SciPy runs Müllner's generic algorithm over the condensed matrix of all n(n-1)/2 distances: a heap of
// lower bounds on each cluster's distance to its nearest higher-indexed cluster, and after each merge a
// Lance-Williams update of the merged cluster's row. This runs the same algorithm, the same heap and the
// same updates in the same order (so ties between equally close pairs are broken as SciPy breaks them),
// with one change: the distance between two clusters is the Euclidean distance between their centroids,
// kept per cluster ((nx * cx + ny * cy) / (nx + ny) on a merge). The Lance-Williams recurrence computes the
// same quantity with its own rounding; between single points both are the same bits (squared differences
// summed in coordinate order in float64, as pdist does).
//
// Where SciPy reads a row of its matrix, this asks a ball tree over the centroids, which answers exactly
// what the scan would (the nearest live cluster above an index, lowest index among equals; or every
// cluster below the new one that is now closer to it than its bound) while skipping clusters that a lower
// bound puts out of reach. Three tests, each cheaper than the next and each passing only what it cannot
// rule out, with margins that cover its rounding: the distance between projections on 32 principal
// directions of the input, plus the difference of the lengths of what the projection leaves out (a lower
// bound, 33 floats); the distance between float32 copies of the centroids (256 floats, vectorised, within
// a few float32 ulps); then the exact float64 distance that every decision is taken on. Whole subtrees go
// by the first test applied to their bounding ball.
#include "linkage.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "cpu_isa.h"
#include "errors.h"
#include "workers.h"

namespace wespeaker {
namespace {

constexpr int kProjected = 32;     // principal directions (fewer when dim is smaller)
constexpr int kLeafSize = 32;      // clusters per leaf of the tree
constexpr int kBasisSample = 2048;  // points sampled to estimate the principal directions
constexpr int kBasisIterations = 6;
constexpr int kLanes = 16;  // float32 rows are padded to a multiple of this
constexpr int64_t kMaxPoints = int64_t(1) << 30;
constexpr double kInf = std::numeric_limits<double>::infinity();

int64_t padded(int64_t n) { return (n + kLanes - 1) / kLanes * kLanes; }

// The distance every decision is taken on: squared differences summed in coordinate order in float64,
// as SciPy's pdist sums them. This file is compiled with -ffp-contract=off (no fused multiply-add here).
double exact_distance(const double* a, const double* b, int64_t dim) {
  double s = 0;
  for (int64_t d = 0; d < dim; ++d) {
    const double t = a[d] - b[d];
    s += t * t;
  }
  return std::sqrt(s);
}

// Squared distance between two padded float32 rows, `len` a multiple of kLanes.
template <class V>
__attribute__((always_inline)) inline float squared_distance(const float* a, const float* b, int64_t len) {
  constexpr int W = sizeof(V) / sizeof(float);
  V acc[kLanes / W] = {};
  for (int64_t i = 0; i < len; i += kLanes) {
    for (int j = 0; j < kLanes / W; ++j) {
      const V t = load<V>(a + i + j * W) - load<V>(b + i + j * W);
      acc[j] += t * t;
    }
  }
  V sum = acc[0];
  for (int j = 1; j < kLanes / W; ++j) sum += acc[j];
  float s = 0;
  for (int j = 0; j < W; ++j) s += sum[j];
  return s;
}

__attribute__((target("avx512f,fma"))) float squared_avx512(const float* a, const float* b, int64_t len) {
  return squared_distance<v16>(a, b, len);
}
__attribute__((target("avx2,fma"))) float squared_avx2(const float* a, const float* b, int64_t len) {
  return squared_distance<v8>(a, b, len);
}
float squared_baseline(const float* a, const float* b, int64_t len) { return squared_distance<v4>(a, b, len); }

float squared(const float* a, const float* b, int64_t len) {
  static const auto kernel = WESPEAKER_KERNEL_FOR_CPU(squared_avx512, squared_avx2, squared_baseline);
  return kernel(a, b, len);
}

// out[l] = (rest - block_rest[l])^2 + sum_j (q[j] - block[j * kLanes + l])^2 for the kLanes clusters of a
// block of the transposed projections (klen rows of kLanes).
template <class V>
__attribute__((always_inline)) inline void block_bounds(const float* block, const float* block_rest, const float* q,
                                                        float rest, int klen, float* out) {
  constexpr int W = sizeof(V) / sizeof(float);
  V acc[kLanes / W];
  for (int l = 0; l < kLanes / W; ++l) {
    const V g = (rest - V{}) - load<V>(block_rest + l * W);
    acc[l] = g * g;
  }
  for (int j = 0; j < klen; ++j) {
    const V qj = q[j] - V{};
    for (int l = 0; l < kLanes / W; ++l) {
      const V t = qj - load<V>(block + j * kLanes + l * W);
      acc[l] += t * t;
    }
  }
  for (int l = 0; l < kLanes / W; ++l) store(out + l * W, acc[l]);
}

__attribute__((target("avx512f,fma"))) void bounds_avx512(const float* b, const float* br, const float* q, float r,
                                                          int klen, float* out) {
  block_bounds<v16>(b, br, q, r, klen, out);
}
__attribute__((target("avx2,fma"))) void bounds_avx2(const float* b, const float* br, const float* q, float r,
                                                     int klen, float* out) {
  block_bounds<v8>(b, br, q, r, klen, out);
}
void bounds_baseline(const float* b, const float* br, const float* q, float r, int klen, float* out) {
  block_bounds<v4>(b, br, q, r, klen, out);
}

void bounds(const float* b, const float* br, const float* q, float r, int klen, float* out) {
  static const auto kernel = WESPEAKER_KERNEL_FOR_CPU(bounds_avx512, bounds_avx2, bounds_baseline);
  kernel(b, br, q, r, klen, out);
}

// SciPy's Heap (scipy/cluster/_structures.pxi): the sift rules decide which of several equal minima comes
// out first, which is how SciPy breaks ties; they must not be "improved".
class KeyedMinHeap {
 public:
  explicit KeyedMinHeap(const std::vector<double>& values)
      : values_(values), key_at_(values.size()), slot_of_(values.size()), size_(int64_t(values.size())) {
    for (int64_t i = 0; i < size_; ++i) key_at_[i] = slot_of_[i] = i;
    for (int64_t i = size_ / 2 - 1; i >= 0; --i) sift_down(i);
  }
  int64_t top_key() const { return key_at_[0]; }
  double top_value() const { return values_[0]; }
  void remove_top() {
    swap(0, size_ - 1);
    --size_;
    sift_down(0);
  }
  void update(int64_t key, double value) {
    const int64_t slot = slot_of_[key];
    const double old = values_[slot];
    values_[slot] = value;
    if (value < old) {
      sift_up(slot);
    } else {
      sift_down(slot);
    }
  }

 private:
  void sift_up(int64_t slot) {
    while (slot > 0) {
      const int64_t parent = (slot - 1) >> 1;
      if (!(values_[parent] > values_[slot])) return;
      swap(slot, parent);
      slot = parent;
    }
  }
  void sift_down(int64_t slot) {
    for (int64_t child = 2 * slot + 1; child < size_; child = 2 * slot + 1) {
      if (child + 1 < size_ && values_[child + 1] < values_[child]) ++child;
      if (!(values_[slot] > values_[child])) return;
      swap(slot, child);
      slot = child;
    }
  }
  void swap(int64_t i, int64_t j) {
    std::swap(values_[i], values_[j]);
    std::swap(key_at_[i], key_at_[j]);
    slot_of_[key_at_[i]] = i;
    slot_of_[key_at_[j]] = j;
  }

  std::vector<double> values_;
  std::vector<int64_t> key_at_, slot_of_;
  int64_t size_;
};

// Modified Gram-Schmidt over the rows, twice; a row that vanishes is replaced by the next coordinate axis.
void orthonormalize(std::vector<double>& rows, int k, int64_t dim) {
  int64_t axis = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (int j = 0; j < k; ++j) {
      double* r = rows.data() + j * dim;
      for (int i = 0; i < j; ++i) {
        const double* q = rows.data() + i * dim;
        double t = 0;
        for (int64_t d = 0; d < dim; ++d) t += q[d] * r[d];
        for (int64_t d = 0; d < dim; ++d) r[d] -= t * q[d];
      }
      double norm = 0;
      for (int64_t d = 0; d < dim; ++d) norm += r[d] * r[d];
      norm = std::sqrt(norm);
      if (norm < 1e-6 && axis < dim) {
        std::fill_n(r, dim, 0.0);
        r[axis++] = 1;
        --j;
        continue;
      }
      for (int64_t d = 0; d < dim; ++d) r[d] /= norm;
    }
  }
}

}  // namespace

struct CentroidLinkage::State {
  int64_t n, dim, len;  // len: dim padded to kLanes
  int k, klen;          // projected coordinates, padded
  std::vector<double> c;  // centroids by slot (the exact ones)
  std::vector<int32_t> size, node_id, into;
  std::vector<int64_t> neighbor;
  std::vector<double> bound;
  std::vector<double> z_rows;

  // The approximations, in units of `scale` (the largest distance of an input point from the mean), so
  // that float32 can neither overflow nor lose the small distances.
  std::vector<double> mean, basis;
  double scale = 1, inv_scale = 1, slack_rel = 0, slack_abs = 0;
  // Indexed by position in `order` at the last build (pos_of[slot]), so that a leaf's clusters are
  // contiguous in memory: float32 copies (len), projections (klen), lengths of the rest.
  std::vector<float> c32, proj, rest;  // rest padded to a multiple of kLanes, as proj_t
  std::vector<float> proj_t;  // the projections again, transposed by blocks of kLanes positions
  std::vector<int64_t> pos_of;
  std::vector<double> scratch;

  // The tree: nodes in build order (children after their parent), subtrees contiguous in `order`.
  struct Node {
    int64_t begin, end;
    int32_t left, right, parent;
    int32_t live;
    int64_t min_slot, max_slot;
    float radius, rest_min, rest_max;
    double max_bound;  // >= bound[w] for every live w of the node not in `wide`
  };
  std::vector<Node> nodes;
  std::vector<float> centers;  // klen per node
  std::vector<int64_t> order;
  std::vector<int32_t> leaf_of;
  int64_t live_at_build = 0, live_now = 0;
  std::vector<int64_t> wide;  // slots whose bound exceeds `cap`, checked one by one by reverse searches
  std::vector<uint8_t> is_wide;
  double cap = kInf;

  std::unique_ptr<KeyedMinHeap> heap;
  int64_t done = 0;  // units of work
  std::vector<int64_t> hits;
  std::vector<double> hit_distances;

  // --- approximations -------------------------------------------------------------------------

  // How far a float32 bound or distance (in units of `scale`) may lie from the exact one, `value` being
  // the threshold it is compared with: a few float32 ulps of the vectors' lengths per summed term.
  double slack(double value) const { return slack_rel * (value + 1) + slack_abs; }

  const float* proj_of(int64_t slot) const { return proj.data() + pos_of[slot] * klen; }
  const float* c32_of(int64_t slot) const { return c32.data() + pos_of[slot] * len; }
  float rest_of(int64_t slot) const { return rest[pos_of[slot]]; }

  void approximate(int64_t slot) {
    const double* x = c.data() + slot * dim;
    float* x32 = c32.data() + pos_of[slot] * len;
    std::vector<double>& w = scratch;
    for (int64_t d = 0; d < dim; ++d) {
      w[d] = (x[d] - mean[d]) * inv_scale;
      x32[d] = float(w[d]);
    }
    const int64_t pos = pos_of[slot];
    float* p = proj.data() + pos * klen;
    float* pt = proj_t.data() + (pos / kLanes) * klen * kLanes + pos % kLanes;
    for (int j = 0; j < k; ++j) {
      // Four partial sums (the order does not matter to an approximation; the dependency chain does).
      const double* b = basis.data() + j * dim;
      double t4[4] = {0, 0, 0, 0};
      int64_t d = 0;
      for (; d + 4 <= dim; d += 4) {
        for (int l = 0; l < 4; ++l) t4[l] += b[d + l] * w[d + l];
      }
      for (; d < dim; ++d) t4[0] += b[d] * w[d];
      const double t = (t4[0] + t4[1]) + (t4[2] + t4[3]);
      p[j] = float(t);
      pt[j * kLanes] = p[j];
      for (int64_t d = 0; d < dim; ++d) w[d] -= t * basis[j * dim + d];
    }
    double r = 0;
    for (int64_t d = 0; d < dim; ++d) r += w[d] * w[d];
    rest[pos_of[slot]] = float(std::sqrt(r));
  }

  void principal_directions() {
    basis.assign(size_t(k) * dim, 0.0);
    if (k == dim) {
      for (int j = 0; j < k; ++j) basis[j * dim + j] = 1;
      return;
    }
    const int64_t m = std::min<int64_t>(n, kBasisSample);
    std::vector<double> cov(dim * dim, 0.0), row(dim);
    for (int64_t t = 0; t < m; ++t) {
      const int64_t i = t * n / m;
      for (int64_t d = 0; d < dim; ++d) row[d] = c[i * dim + d] - mean[d];
      for (int64_t a = 0; a < dim; ++a) {
        const double ra = row[a];
        for (int64_t b = a; b < dim; ++b) cov[a * dim + b] += ra * row[b];
      }
    }
    for (int64_t a = 0; a < dim; ++a) {
      for (int64_t b = 0; b < a; ++b) cov[a * dim + b] = cov[b * dim + a];
    }
    uint32_t state = 0x2545f491u;  // a fixed start: the result is deterministic
    for (auto& v : basis) {
      state = state * 1103515245u + 12345u;
      v = double(state) / 4294967296.0 - 0.5;
    }
    orthonormalize(basis, k, dim);
    std::vector<double> next(basis.size());
    for (int it = 0; it < kBasisIterations; ++it) {
      for (int j = 0; j < k; ++j) {
        for (int64_t a = 0; a < dim; ++a) {
          double t = 0;
          for (int64_t b = 0; b < dim; ++b) t += cov[a * dim + b] * basis[j * dim + b];
          next[j * dim + a] = t;
        }
      }
      basis.swap(next);
      orthonormalize(basis, k, dim);
    }
  }

  // --- the tree ------------------------------------------------------------------------------

  float projected_distance(const float* a, const float* b) const { return std::sqrt(squared(a, b, klen)); }

  void build(std::vector<int64_t> slots) {
    order = std::move(slots);
    nodes.clear();
    centers.clear();
    live_at_build = live_now = int64_t(order.size());
    std::vector<float> key(order.size());
    build_node(0, int64_t(order.size()), -1, key);
    // The approximations, moved to the new positions.
    const size_t m = order.size();
    std::vector<float> c32_new(m * len), proj_new(m * klen), rest_new(padded(int64_t(m)));
    for (size_t i = 0; i < m; ++i) {
      const int64_t from = pos_of[order[i]];
      std::memcpy(c32_new.data() + i * len, c32.data() + from * len, len * sizeof(float));
      std::memcpy(proj_new.data() + i * klen, proj.data() + from * klen, klen * sizeof(float));
      rest_new[i] = rest[from];
    }
    for (size_t i = 0; i < m; ++i) pos_of[order[i]] = int64_t(i);
    proj_t.assign(size_t(padded(int64_t(m))) * klen, 0.0f);
    for (size_t i = 0; i < m; ++i) {
      for (int j = 0; j < klen; ++j) proj_t[(i / kLanes) * klen * kLanes + j * kLanes + i % kLanes] = proj_new[i * klen + j];
    }
    c32.swap(c32_new);
    proj.swap(proj_new);
    rest.swap(rest_new);
    retune();
  }

  int32_t build_node(int64_t begin, int64_t end, int32_t parent, std::vector<float>& key) {
    const int32_t id = int32_t(nodes.size());
    nodes.push_back(Node{begin, end, -1, -1, parent, int32_t(end - begin), 0, 0, 0, 0, 0, 0});
    centers.resize(centers.size() + klen, 0.0f);
    Node node = nodes[id];
    std::vector<double> center(k, 0.0);
    node.min_slot = std::numeric_limits<int64_t>::max();
    node.max_slot = -1;
    node.rest_min = std::numeric_limits<float>::infinity();
    node.rest_max = 0;
    for (int64_t i = begin; i < end; ++i) {
      const int64_t s = order[i];
      node.min_slot = std::min(node.min_slot, s);
      node.max_slot = std::max(node.max_slot, s);
      node.rest_min = std::min(node.rest_min, rest_of(s));
      node.rest_max = std::max(node.rest_max, rest_of(s));
      for (int j = 0; j < k; ++j) center[j] += proj_of(s)[j];
    }
    float* mid = centers.data() + size_t(id) * klen;
    for (int j = 0; j < k; ++j) mid[j] = float(center[j] / double(end - begin));
    int64_t far = order[begin];
    for (int64_t i = begin; i < end; ++i) {
      const float d = projected_distance(mid, proj_of(order[i]));
      if (d > node.radius) {
        node.radius = d;
        far = order[i];
      }
    }
    nodes[id] = node;
    if (end - begin <= kLeafSize) {
      for (int64_t i = begin; i < end; ++i) leaf_of[order[i]] = id;
      return id;
    }
    // Split across a long direction found cheaply (the member farthest from the center, and the member
    // farthest from that one), at the median.
    int64_t other = far;
    float other_distance = -1;
    const float* pf = proj_of(far);
    for (int64_t i = begin; i < end; ++i) {
      const float d = projected_distance(pf, proj_of(order[i]));
      if (d > other_distance) {
        other_distance = d;
        other = order[i];
      }
    }
    const float* po = proj_of(other);
    for (int64_t i = begin; i < end; ++i) {
      const float* p = proj_of(order[i]);
      float t = 0;
      for (int j = 0; j < k; ++j) t += (p[j] - pf[j]) * (po[j] - pf[j]);
      key[i] = t;
    }
    const int64_t half = (begin + end) / 2;
    std::vector<std::pair<float, int64_t>> items;
    items.reserve(end - begin);
    for (int64_t i = begin; i < end; ++i) items.emplace_back(key[i], order[i]);
    std::nth_element(items.begin(), items.begin() + (half - begin), items.end());
    for (int64_t i = begin; i < end; ++i) order[i] = items[i - begin].second;
    const int32_t left = build_node(begin, half, id, key);
    const int32_t right = build_node(half, end, id, key);
    nodes[id].left = left;
    nodes[id].right = right;
    return id;
  }

  int64_t wide_limit() const { return 2 * std::max<int64_t>(16, int64_t(std::ceil(std::sqrt(double(live_now))))); }

  // Sets `cap` so that about half of wide_limit() live slots exceed it; recomputes `wide` and max_bound.
  void retune() {
    const int64_t last = n - 1;
    std::vector<double> values;
    for (int64_t s : order) {
      if (s < last && size[s] > 0) values.push_back(bound[s]);
    }
    const size_t keep = size_t(wide_limit() / 2);
    if (values.size() > keep) {
      std::nth_element(values.begin(), values.begin() + keep, values.end(), std::greater<double>());
      cap = values[keep];
    } else {
      cap = -kInf;
    }
    for (int64_t s : wide) is_wide[s] = 0;
    wide.clear();
    for (int64_t s : order) {
      if (s < last && size[s] > 0 && bound[s] > cap) {
        is_wide[s] = 1;
        wide.push_back(s);
      }
    }
    for (int64_t id = int64_t(nodes.size()) - 1; id >= 0; --id) {
      Node& node = nodes[id];
      double m = 0;
      if (node.left >= 0) {
        m = std::max(nodes[node.left].max_bound, nodes[node.right].max_bound);
      } else {
        for (int64_t i = node.begin; i < node.end; ++i) {
          const int64_t s = order[i];
          if (s < last && size[s] > 0 && !is_wide[s]) m = std::max(m, bound[s]);
        }
      }
      node.max_bound = m;
    }
  }

  // Lower bound (in units of scale) on the distance from slot q to any centroid of `node`.
  double node_bound(int32_t id, int64_t q) const {
    const Node& node = nodes[id];
    const double outside =
        std::max(0.0, double(projected_distance(centers.data() + size_t(id) * klen, proj_of(q))) -
                          double(node.radius));
    const double r = rest_of(q);
    const double gap = r < node.rest_min ? node.rest_min - r : r > node.rest_max ? r - node.rest_max : 0.0;
    return std::sqrt(outside * outside + gap * gap);
  }

  // Whether slot w is certainly farther than `limit` (exact units) from slot q; else its exact distance.
  bool beyond(int64_t q, int64_t w, double limit, double* exact) const {
    const double scaled = limit * inv_scale, reach = scaled + slack(scaled), reach2 = reach * reach;
    const double gap = double(rest_of(q)) - double(rest_of(w));
    if (gap * gap + double(squared(proj_of(q), proj_of(w), klen)) > reach2) return true;
    if (double(squared(c32_of(q), c32_of(w), len)) > reach2) return true;
    *exact = exact_distance(c.data() + q * dim, c.data() + w * dim, dim);
    return false;
  }

  struct Query {
    int64_t x;
    double found;
    int64_t best;
  };

  // Squared reach (in units of scale) within which a bound or an approximate distance cannot rule out a
  // cluster whose exact distance is compared with `limit`.
  double reach2(double limit) const {
    const double scaled = limit * inv_scale, reach = scaled + slack(scaled);
    return reach * reach;
  }

  // The exact distances from slot q to the candidates (4 sums interleaved, each in coordinate order).
  void exact_distances(int64_t q, const int64_t* w, int count, double* out) const {
    const double* a = c.data() + q * dim;
    int i = 0;
    for (; i + 4 <= count; i += 4) {
      const double *b0 = c.data() + w[i] * dim, *b1 = c.data() + w[i + 1] * dim;
      const double *b2 = c.data() + w[i + 2] * dim, *b3 = c.data() + w[i + 3] * dim;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int64_t d = 0; d < dim; ++d) {
        const double t0 = a[d] - b0[d], t1 = a[d] - b1[d], t2 = a[d] - b2[d], t3 = a[d] - b3[d];
        s0 += t0 * t0;
        s1 += t1 * t1;
        s2 += t2 * t2;
        s3 += t3 * t3;
      }
      out[i] = std::sqrt(s0);
      out[i + 1] = std::sqrt(s1);
      out[i + 2] = std::sqrt(s2);
      out[i + 3] = std::sqrt(s3);
    }
    for (; i < count; ++i) out[i] = exact_distance(a, c.data() + w[i] * dim, dim);
  }

  // The clusters of a leaf that the bounds (first test) and float32 distances (second) cannot rule out
  // against per-position squared reaches `reach2_at(position)`; `eligible(slot)` filters slots first.
  template <class Eligible, class Reach>
  int leaf_candidates(int64_t q, const Node& node, Eligible eligible, Reach reach2_at, int64_t* out,
                      float* approx) const {
    alignas(64) float lb2[kLanes];
    const float* qp = proj_of(q);
    const float* qc = c32_of(q);
    const float qr = rest_of(q);
    int count = 0;
    for (int64_t b0 = node.begin / kLanes * kLanes; b0 < node.end; b0 += kLanes) {
      const int64_t p0 = std::max(b0, node.begin), p1 = std::min(b0 + kLanes, node.end);
      uint32_t mask = 0;
      for (int64_t p = p0; p < p1; ++p) mask |= uint32_t(eligible(order[p])) << (p - b0);
      if (!mask) continue;
      bounds(proj_t.data() + (b0 / kLanes) * klen * kLanes, rest.data() + b0, qp, qr, klen, lb2);
      for (int64_t p = p0; p < p1; ++p) {
        if (!(mask >> (p - b0) & 1)) continue;
        const int64_t s = order[p];
        const double r2 = reach2_at(s);
        if (double(lb2[p - b0]) > r2) continue;
        const float a2 = squared(qc, c32.data() + p * len, len);
        if (double(a2) > r2) continue;
        approx[count] = a2;
        out[count++] = s;
      }
    }
    return count;
  }

  void leaf_nearest(Query& q, const Node& node) const {
    int64_t candidates[kLeafSize + kLanes];
    float approx[kLeafSize + kLanes];
    const double r2 = reach2(q.found);
    const int count = leaf_candidates(
        q.x, node, [&](int64_t s) { return s > q.x && size[s] > 0 && (q.found > 0 || s < q.best); },
        [&](int64_t) { return r2; }, candidates, approx);
    // Nearest first by the float32 distances, so that the exact ones are only taken where they can win.
    int by[kLeafSize + kLanes];
    for (int i = 0; i < count; ++i) by[i] = i;
    std::sort(by, by + count, [&](int a, int b) { return approx[a] < approx[b]; });
    for (int i = 0; i < count; ++i) {
      const int64_t s = candidates[by[i]];
      if (double(approx[by[i]]) > reach2(q.found)) break;
      const double d = exact_distance(c.data() + q.x * dim, c.data() + s * dim, dim);
      if (d < q.found || (d == q.found && s < q.best)) {
        q.found = d;
        q.best = s;
      }
    }
  }

  void leaf_reverse(int64_t y, const Node& node) {
    int64_t candidates[kLeafSize + kLanes];
    double distances[kLeafSize + kLanes];
    float approx[kLeafSize + kLanes];
    const int count = leaf_candidates(
        y, node, [&](int64_t w) { return w < y && size[w] > 0 && !is_wide[w] && bound[w] > 0; },
        [&](int64_t w) { return reach2(bound[w]); }, candidates, approx);
    exact_distances(y, candidates, count, distances);
    for (int i = 0; i < count; ++i) {
      if (distances[i] < bound[candidates[i]]) {
        hits.push_back(candidates[i]);
        hit_distances.push_back(distances[i]);
      }
    }
  }

  void search_nearest(Query& q, int32_t id, double lower) const {
    const Node& node = nodes[id];
    if (node.live == 0 || node.max_slot <= q.x) return;
    if (lower > q.found * inv_scale + slack(q.found * inv_scale)) return;
    // At distance 0 only a tie can be found, and a tie only wins from a lower slot (duplicated points).
    if (q.found == 0 && node.min_slot > q.best) return;
    if (node.left < 0) {
      leaf_nearest(q, node);
      return;
    }
    const auto useful = [&](int32_t child) { return nodes[child].live > 0 && nodes[child].max_slot > q.x; };
    const bool go_left = useful(node.left), go_right = useful(node.right);
    if (go_left && go_right) {
      const double bl = node_bound(node.left, q.x), br = node_bound(node.right, q.x);
      if (bl < br || (bl == br && nodes[node.left].min_slot <= nodes[node.right].min_slot)) {
        search_nearest(q, node.left, bl);
        search_nearest(q, node.right, br);
      } else {
        search_nearest(q, node.right, br);
        search_nearest(q, node.left, bl);
      }
    } else if (go_left || go_right) {
      const int32_t child = go_left ? node.left : node.right;
      search_nearest(q, child, node_bound(child, q.x));
    }
  }

  // The live slot above x nearest to it, lowest slot among equals (a scan with strict < in slot order).
  int64_t nearest_above(int64_t x, double* found) const {
    Query q{x, kInf, -1};
    search_nearest(q, 0, node_bound(0, x));
    *found = q.found;
    if (q.best < 0 || !std::isfinite(q.found)) {
      // Slot n - 1 is never dropped (the lower slot of a merged pair is), so a live x < n - 1 always has a
      // candidate: only an overflowing distance ends here.
      throw InvalidArgument("centroid linkage: a distance between clusters overflows");
    }
    return q.best;
  }

  void search_reverse(int64_t y, int32_t id) {
    const Node& node = nodes[id];
    // Nothing is closer than 0: clusters whose bound is 0 (a duplicate above them) are never hits.
    if (node.live == 0 || node.min_slot >= y || node.max_bound <= 0) return;
    const double limit = node.max_bound * inv_scale;
    if (node_bound(id, y) > limit + slack(limit)) return;
    if (node.left >= 0) {
      search_reverse(y, node.left);
      search_reverse(y, node.right);
      return;
    }
    leaf_reverse(y, node);
  }

  // Every live slot w < y with d(w, y) < bound[w], into hits, in increasing slot order.
  void closer_than_bound(int64_t y) {
    hits.clear();
    hit_distances.clear();
    search_reverse(y, 0);
    for (int64_t w : wide) {
      if (w >= y || size[w] == 0 || bound[w] <= 0) continue;
      double d;
      if (!beyond(y, w, bound[w], &d) && d < bound[w]) {
        hits.push_back(w);
        hit_distances.push_back(d);
      }
    }
    if (hits.size() > 1) {
      std::vector<size_t> by(hits.size());
      for (size_t i = 0; i < by.size(); ++i) by[i] = i;
      std::sort(by.begin(), by.end(), [&](size_t a, size_t b) { return hits[a] < hits[b]; });
      std::vector<int64_t> h(by.size());
      std::vector<double> d(by.size());
      for (size_t i = 0; i < by.size(); ++i) {
        h[i] = hits[by[i]];
        d[i] = hit_distances[by[i]];
      }
      hits.swap(h);
      hit_distances.swap(d);
    }
  }

  void bound_raised(int64_t slot) {
    if (is_wide[slot]) return;
    const double b = bound[slot];
    if (b > cap) {
      is_wide[slot] = 1;
      wide.push_back(slot);
      if (int64_t(wide.size()) > wide_limit()) retune();
      return;
    }
    for (int32_t id = leaf_of[slot]; id >= 0 && nodes[id].max_bound < b; id = nodes[id].parent) {
      nodes[id].max_bound = b;
    }
  }

  void moved(int64_t slot) {
    approximate(slot);
    const float r = rest_of(slot);
    for (int32_t id = leaf_of[slot]; id >= 0; id = nodes[id].parent) {
      Node& node = nodes[id];
      node.radius = std::max(node.radius, projected_distance(centers.data() + size_t(id) * klen, proj_of(slot)));
      node.rest_min = std::min(node.rest_min, r);
      node.rest_max = std::max(node.rest_max, r);
    }
  }

  void removed(int64_t slot) {
    for (int32_t id = leaf_of[slot]; id >= 0; id = nodes[id].parent) --nodes[id].live;
    --live_now;
    if (live_now * 2 <= live_at_build && live_now > kLeafSize) {
      std::vector<int64_t> slots;
      slots.reserve(live_now);
      for (int64_t s : order) {
        if (size[s] > 0) slots.push_back(s);
      }
      std::sort(slots.begin(), slots.end());
      build(std::move(slots));
    }
  }

  // --- SciPy's loop --------------------------------------------------------------------------

  void merge(int64_t k_row, double* z) {
    int64_t x = 0, y = 0;
    double d = 0;
    // Bounded like SciPy's loop, so a float quirk cannot spin forever; the last candidate wins then.
    for (int64_t attempt = 0; attempt < n - k_row; ++attempt) {
      x = heap->top_key();
      d = heap->top_value();
      y = live(neighbor[x]);
      if (d == exact_distance(c.data() + x * dim, c.data() + y * dim, dim)) break;
      y = nearest_above(x, &d);
      neighbor[x] = y;
      bound[x] = d;
      heap->update(x, d);
      bound_raised(x);
    }
    heap->remove_top();

    const int32_t nx = size[x], ny = size[y], nxy = nx + ny;
    const int32_t id_x = node_id[x], id_y = node_id[y];
    double* row = z + 4 * k_row;
    row[0] = std::min(id_x, id_y);
    row[1] = std::max(id_x, id_y);
    row[2] = d;
    row[3] = nxy;
    double* cx = c.data() + x * dim;
    double* cy = c.data() + y * dim;
    for (int64_t i = 0; i < dim; ++i) cy[i] = (double(nx) * cx[i] + double(ny) * cy[i]) / double(nxy);
    size[x] = 0;
    size[y] = nxy;
    node_id[y] = int32_t(n + k_row);
    into[x] = int32_t(y);
    removed(x);
    moved(y);

    closer_than_bound(y);
    for (size_t i = 0; i < hits.size(); ++i) {
      neighbor[hits[i]] = y;
      bound[hits[i]] = hit_distances[i];
      heap->update(hits[i], hit_distances[i]);
    }
    if (y < n - 1) {
      double found;
      neighbor[y] = nearest_above(y, &found);
      bound[y] = found;
      heap->update(y, found);
      bound_raised(y);
    }
  }

  // SciPy re-points a cluster whose neighbour was merged away at the merged cluster's slot; `into`
  // records where each slot went, and a stored neighbour is followed to its live slot when read.
  int64_t live(int64_t s) {
    while (into[s] != s) {
      into[s] = into[into[s]];
      s = into[s];
    }
    return s;
  }

  // Initial neighbours of the slots at tree positions [from, to) (neighbouring queries share their
  // leaves in cache), on the shared worker threads.
  void initial_neighbours(int64_t from, int64_t to) {
    std::atomic<int64_t> next{from};
    std::atomic<bool> overflow{false};
    Workers& workers = Workers::shared();
    constexpr int64_t kBlock = 64;
    const int parts = int(std::max<int64_t>(1, std::min<int64_t>(workers.size(), (to - from + kBlock - 1) / kBlock)));
    const std::function<void(int)> part = [&](int) {
      for (;;) {
        const int64_t p0 = next.fetch_add(kBlock);
        if (p0 >= to) return;
        for (int64_t p = p0; p < std::min(to, p0 + kBlock); ++p) {
          const int64_t x = order[p];
          if (x == n - 1) continue;
          try {
            double found;
            neighbor[x] = nearest_above(x, &found);
            bound[x] = found;
          } catch (const InvalidArgument&) {
            overflow = true;
            return;
          }
        }
      }
    };
    workers.run(parts, part);
    if (overflow) throw InvalidArgument("centroid linkage: a distance between clusters overflows");
  }
};

CentroidLinkage::CentroidLinkage(const double* points, int64_t n, int64_t dim) : state_(new State()) {
  if (!points) throw InvalidArgument("points is NULL");
  if (n < 2 || n > kMaxPoints) {
    throw InvalidArgument("n must be in [2, " + std::to_string(kMaxPoints) + "], got " + std::to_string(n));
  }
  if (dim < 1 || dim > (int64_t(1) << 20) || n > (int64_t(1) << 40) / dim) {
    throw InvalidArgument("dim must be in [1, 2^20] with n x dim < 2^40, got dim " + std::to_string(dim));
  }
  for (int64_t i = 0; i < n * dim; ++i) {
    if (!std::isfinite(points[i])) {
      throw InvalidArgument("point " + std::to_string(i / dim) + " coordinate " + std::to_string(i % dim) +
                            " is not finite");
    }
  }
  State& s = *state_;
  s.n = n;
  s.dim = dim;
  s.len = padded(dim);
  s.k = int(std::min<int64_t>(dim, kProjected));
  s.klen = int(padded(s.k));
  s.c.assign(points, points + n * dim);
  s.size.assign(n, 1);
  s.node_id.resize(n);
  s.into.resize(n);
  for (int64_t i = 0; i < n; ++i) s.node_id[i] = s.into[i] = int32_t(i);
  s.neighbor.assign(n - 1, 0);
  s.bound.assign(n - 1, kInf);
  s.leaf_of.assign(n, 0);
  s.is_wide.assign(n, 0);

  s.mean.assign(dim, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t d = 0; d < dim; ++d) s.mean[d] += s.c[i * dim + d] / double(n);
  }
  double r2 = 0, c2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    double t = 0, u = 0;
    for (int64_t d = 0; d < dim; ++d) {
      t += (s.c[i * dim + d] - s.mean[d]) * (s.c[i * dim + d] - s.mean[d]);
      u += s.c[i * dim + d] * s.c[i * dim + d];
    }
    r2 = std::max(r2, t);
    c2 = std::max(c2, u);
  }
  // Every centroid, node center and projection is a mean of input points, so within `scale` of the mean.
  // Errors, in units of scale: rounding to float32 (2^-24 per coordinate, relative), float32 sums of
  // up to len / kLanes + log2(kLanes) terms per lane (each 2^-24 relative), the projection's float64
  // arithmetic, and the float64 centring of coordinates as large as sqrt(c2). All are covered 4 times over.
  s.scale = r2 > 0 ? std::sqrt(r2) : 1.0;
  s.inv_scale = 1.0 / s.scale;
  const double u32 = std::ldexp(1.0, -24), u64 = std::ldexp(1.0, -53);
  s.slack_rel = 4 * double(std::max<int64_t>(s.len, s.klen) / kLanes + 8) * u32;
  s.slack_abs = 4 * double(dim + 8) * u64 * (std::sqrt(c2) * s.inv_scale + 1) + 1e-30;
  s.c32.assign(size_t(n) * s.len, 0.0f);
  s.proj.assign(size_t(n) * s.klen, 0.0f);
  s.proj_t.assign(size_t(padded(n)) * s.klen, 0.0f);
  s.rest.assign(size_t(padded(n)), 0.0f);  // read a block of kLanes at a time
  s.scratch.assign(dim, 0.0);
  s.pos_of.resize(n);
  for (int64_t i = 0; i < n; ++i) s.pos_of[i] = i;
  s.principal_directions();
  for (int64_t i = 0; i < n; ++i) s.approximate(i);
  std::vector<int64_t> slots(n);
  for (int64_t i = 0; i < n; ++i) slots[i] = i;
  s.build(std::move(slots));
}

CentroidLinkage::~CentroidLinkage() = default;

int64_t CentroidLinkage::total() const { return 2 * state_->n - 1; }

int64_t CentroidLinkage::run(int64_t steps, double* z) {
  State& s = *state_;
  const int64_t n = s.n;
  while (steps > 0 && s.done < 2 * n - 1) {
    if (s.done < n) {
      const int64_t to = std::min(n, s.done + steps);
      s.initial_neighbours(s.done, to);
      steps -= to - s.done;
      s.done = to;
      if (s.done == n) {
        s.heap = std::make_unique<KeyedMinHeap>(s.bound);
        s.retune();
      }
      continue;
    }
    s.merge(s.done - n, z);
    ++s.done;
    --steps;
  }
  return s.done;
}

}  // namespace wespeaker

