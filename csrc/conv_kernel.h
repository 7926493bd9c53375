// What the two convolution kernels behind direct_conv.h share (internal): the description of one call,
// the register-blocked multiply-accumulate loop, and the epilogue that writes an output vector.
#pragma once

#include "cpu_isa.h"
#include "direct_conv.h"

#include <cstdint>

namespace wespeaker {

constexpr int kPack = 8;  // output channels per packed weight group (every width of the trunk divides by it)

// One call, as raw pointers into evaluated, row-contiguous arrays.
struct ConvJob {
  const float* const* src;  // per tap: channel 0 of its source, moved by the tap's offset
  int64_t n;                // pixels, also the channel stride of sources, residual and output
  int64_t cols, item_rows;  // Winograd: columns of the grid, rows of one item (n = items * item_rows * cols)
  int tile_rows, tile_cols;  // Winograd: outputs per tile, 2 or 4 each way
  int taps, in_channels, out_channels;
  const float* weights;   // [O / 8][taps][C][8]
  const float* bias;      // [O]
  const float* residual;  // its channel 0, or null
  const float* mask;      // [N], or null
  Activation activation;
  float* out;  // channel 0 (row 1) of the output
};

// The direct kernel (all taps summed in registers) and the Winograd one (winograd.cpp).
void run_direct(const ConvJob& j);
void run_winograd(const ConvJob& j);

// acc[k][v] += w[c * kPack + k] * s[c * stride + v * W] for c < channels: OB output channels times PV
// vectors of pixels held in registers while the weights stream by as broadcasts.
template <class V, int OB, int PV>
__attribute__((always_inline)) inline void multiply_accumulate(V (&acc)[OB][PV], const float* w, const float* s,
                                                               int64_t stride, int channels) {
  constexpr int W = sizeof(V) / sizeof(float);
  for (int c = 0; c < channels; ++c, s += stride, w += kPack) {
    V x[PV];
    for (int v = 0; v < PV; ++v) x[v] = load<V>(s + v * W);
    for (int k = 0; k < OB; ++k) {
      const V wk = w[k] - V{};  // a broadcast: V{} + w would add a zero first (-0 + 0 is +0)
      for (int v = 0; v < PV; ++v) acc[k][v] += wk * x[v];
    }
  }
}

// The activation of a float or of a vector. NaN stays NaN, as through mx::maximum and mx::abs, for the
// final checks to see.
template <class T>
__attribute__((always_inline)) inline T activate(Activation activation, T y) {
  if (activation == Activation::relu) return y < 0 ? T{} : y;
  if (activation == Activation::abs) return y < 0 ? -y : y;
  return y;
}

// Output channel o at pixels at + [from, to), 0 <= from < to <= W, from lanes [from, to) of the sums y
// (bias included): the residual, the activation and the mask applied, then stored.
template <class V>
__attribute__((always_inline)) inline void finish(const ConvJob& j, int o, int64_t at, V y, int64_t from, int64_t to) {
  constexpr int W = sizeof(V) / sizeof(float);
  const int64_t i = int64_t(o) * j.n + at;
  if (from == 0 && to == W) {
    if (j.residual) y += load<V>(j.residual + i);
    y = activate(j.activation, y);
    if (j.mask) y *= load<V>(j.mask + at);
    store(j.out + i, y);
    return;
  }
  // Lane by lane, with the same operations: a memcpy of a few lanes becomes a `rep movs`, slow to start.
  for (int64_t l = from; l < to; ++l) {
    float x = y[l];
    if (j.residual) x += j.residual[i + l];
    x = activate(j.activation, x);
    if (j.mask) x *= j.mask[at + l];
    j.out[i + l] = x;
  }
}

}  // namespace wespeaker
