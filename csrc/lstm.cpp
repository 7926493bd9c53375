#include "lstm.h"

#include "cpu_isa.h"
#include "workers.h"

#include <mlx/allocator.h>
#include <mlx/backend/cpu/encoder.h>
#include <mlx/primitives.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace mx = mlx::core;

namespace wespeaker {
namespace {

struct Direction {
  const float* gates;  // row (b, t) at b * gate_item + t * gate_frame: [4H] input projection + biases
  const float* w;      // [H, 4H]
  float* out;          // row (b, t) at b * out_item + t * out_frame: [H]
  int64_t gate_item, gate_frame, out_item, out_frame;
  int T, B, H;
  bool backward;  // steps run over frames T - 1 down to 0
};

// g[b, j : j + CB vectors] += h[b, :] @ w[:, j : j + CB vectors]: CB independent accumulators hide the
// FMA latency. One row at a time: on the CPU segmentation passes one chunk at a time (B = 1), so blocking
// rows to reuse w would gain nothing.
template <class V, int CB>
__attribute__((always_inline)) inline void product_block(const float* h, const float* w, float* g, int H, int G,
                                                         int j) {
  constexpr int W = sizeof(V) / sizeof(float);
  V acc[CB];
  for (int c = 0; c < CB; ++c) acc[c] = load<V>(g + j + c * W);
  for (int k = 0; k < H; ++k) {
    const V hk = h[k] - V{};  // a broadcast (V{} + x would add a zero first)
    for (int c = 0; c < CB; ++c) acc[c] += hk * load<V>(w + k * G + j + c * W);
  }
  for (int c = 0; c < CB; ++c) store(g + j + c * W, acc[c]);
}

// Vector exp, sigmoid and tanh, within a few float32 ulps: glibc's scalar tanhf and expf were most of a
// step's time. exp: Cody-Waite reduction by ln 2 and Cephes' expf polynomial; inputs are clamped to
// where e^x is a normal float.
template <class V>
__attribute__((always_inline)) inline V vexp(V x) {
  typedef int32_t I __attribute__((vector_size(sizeof(V))));
  x = x < -87.3f ? V{} - 87.3f : x;
  x = x > 88.3f ? V{} + 88.3f : x;
  const V shifter = V{} + 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const V n = (x * 1.44269504088896341f + shifter) - shifter;
  const V r = x - n * 0.693359375f - n * -2.12194440e-4f;
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const I bits = (__builtin_convertvector(n, I) + 127) << 23;
  V scale;
  __builtin_memcpy(&scale, &bits, sizeof(V));
  return p * scale;
}

template <class V>
__attribute__((always_inline)) inline V vsigmoid(V x) {
  return 1.0f / (1.0f + vexp(-x));
}

// tanh: 1 - 2 / (e^2x + 1), and for |x| < 0.625, where that cancels, Cephes' tanhf polynomial.
template <class V>
__attribute__((always_inline)) inline V vtanh(V x) {
  const V z = x * x;
  V p = V{} - 5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const V small = p * z * x + x;
  const V large = 1.0f - 2.0f / (vexp(x + x) + 1.0f);
  return (x < 0.625f && x > -0.625f) ? small : large;
}

// G = 4 x 128 is a multiple of 8 vectors of any width used here.
template <class V>
__attribute__((always_inline)) inline void run_direction(const Direction& d) {
  constexpr int W = sizeof(V) / sizeof(float), CB = 8;
  const int B = d.B, H = d.H, G = 4 * H;
  std::vector<float> h(size_t(B) * H, 0.0f), c(size_t(B) * H, 0.0f), g(G);
  for (int step = 0; step < d.T; ++step) {
    const int t = d.backward ? d.T - 1 - step : step;
    for (int b = 0; b < B; ++b) {
      float* hb = h.data() + b * H;
      float* cb = c.data() + b * H;
      float* out = d.out + b * d.out_item + t * d.out_frame;
      std::copy_n(d.gates + b * d.gate_item + t * d.gate_frame, G, g.begin());
      for (int j = 0; j < G; j += CB * W) product_block<V, CB>(hb, d.w, g.data(), H, G, j);
      for (int k = 0; k < H; k += W) {
        const V gi = load<V>(&g[k]), gf = load<V>(&g[H + k]), gc = load<V>(&g[2 * H + k]), go = load<V>(&g[3 * H + k]);
        const V cell = vsigmoid(gf) * load<V>(cb + k) + vsigmoid(gi) * vtanh(gc);
        const V hidden = vsigmoid(go) * vtanh(cell);
        store(cb + k, cell);
        store(hb + k, hidden);
        store(out + k, hidden);
      }
    }
  }
}

#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) void direction_avx512(const Direction& d) { run_direction<v16>(d); }
__attribute__((target("avx2,fma"))) void direction_avx2(const Direction& d) { run_direction<v8>(d); }
#endif
void direction_baseline(const Direction& d) { run_direction<v4>(d); }

void run(const Direction& d) {
  static const auto runner = WESPEAKER_KERNEL_FOR_CPU(direction_avx512, direction_avx2, direction_baseline);
  runner(d);
}

class LstmRecurrence : public mx::UnaryPrimitive {
 public:
  explicit LstmRecurrence(mx::Stream stream) : mx::UnaryPrimitive(stream) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const mx::array &gates = inputs[0], &w = inputs[1];
    for (const auto& in : inputs) {
      if (!in.flags().row_contiguous) throw std::logic_error("lstm_recurrence: an input is not row-contiguous");
    }
    out.set_data(mx::allocator::malloc(out.nbytes()));
    const int B = gates.shape(0), T = gates.shape(1), G = gates.shape(3), H = G / 4;
    std::vector<Direction> directions;
    for (int k = 0; k < 2; ++k) {
      directions.push_back(Direction{gates.data<float>() + int64_t(k) * G, w.data<float>() + int64_t(k) * H * G,
                                     out.data<float>() + int64_t(k) * H, int64_t(T) * 2 * G, 2 * G,
                                     int64_t(T) * 2 * H, 2 * H, T, B, H, k == 1});
    }
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& in : inputs) encoder.set_input_array(in);
    encoder.set_output_array(out);
    encoder.dispatch([directions] {
      Workers& workers = Workers::shared();
      if (workers.size() >= 2) {
        workers.run(2, [&](int k) { run(directions[k]); });
      } else {
        for (const auto& d : directions) run(d);
      }
    });
  }

  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::logic_error("lstm_recurrence runs on the CPU only");
  }

  const char* name() const override { return "WespeakerLstmRecurrence"; }
};

}  // namespace

mx::array lstm_recurrence(const mx::array& gates, const mx::array& w_hh_t, mx::Stream stream) {
  const int B = gates.shape(0), T = gates.shape(1), H = w_hh_t.shape(1);
  return mx::array({B, T, 2 * H}, mx::float32, std::make_shared<LstmRecurrence>(stream), {gates, w_hh_t});
}

}  // namespace wespeaker
