// Convolutions on the CPU (the ResNet trunk's, SincNet's): a direct-convolution MLX primitive.
//
// Per kernel tap, MLX's route is a matrix product over the whole activation (resnet.cpp, conv()): nine
// passes over the input and the accumulator per layer, through BLAS calls with K = C as small as 32, which
// on a 2-core AVX-512 machine reached ~40-70% of the matmul roofline (stage 1 worst). This primitive
// computes a block of output channels x pixels in registers over all input channels and taps, then adds
// the bias, the residual, the activation and the grid's mask on the way out: one pass per layer, nothing
// but the output written: 85-96% of that machine's FMA peak, against 40-70% of the roofline before.
// The same primitive computes 3x3 convolutions by Winograd's minimal filtering (winograd_conv below):
// F(2x2, 3x3), 2.25x fewer multiplications, made the trunk about 1.5x faster; F(4x4, 3x3), 4x fewer (2x4 tiles
// at the last level's 10 bins), 1.1-1.25x faster again at batch 16, within noise at batch 1.
#pragma once

#include <mlx/array.h>
#include <mlx/stream.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace wespeaker {

// Weights of one convolution packed for the kernel: [O / 8][taps][C][8] floats, and the [O] bias.
struct PackedConv {
  mlx::core::array weights;
  mlx::core::array bias;
  int out_channels = 0, in_channels = 0, taps = 0;
  int tile_rows = 0, tile_cols = 0;  // pack_winograd's: outputs per tile; (tile_rows + 2)(tile_cols + 2) matrices
};

// From [taps, O, C] tap matrices and the [O] bias; O a multiple of 8.
PackedConv pack_conv(const mlx::core::array& taps, const mlx::core::array& bias, mlx::core::Stream stream);

// One tap of a convolution: which source it reads (an index into the sources given to direct_conv) and
// at what pixel offset from the output pixel.
struct TapSource {
  int source = 0;
  int64_t offset = 0;
};

enum class Activation { none, relu, abs };

// The [O + 2, N] output (zero guard rows) of conv over `sources`, each [C + 2, N] on the output grid with
// zero guard rows: out[1 + o, p] = mask[p] * act(bias[o] + residual[1 + o, p] + sum over c, taps of
// w[tap, o, c] * sources[tap.source][1 + c, p + tap.offset]); the residual ([O + 2, N]) and the mask
// ([1, N]) are optional. Reads may run a vector and a tap offset past pixel N - 1, into the guard row.
// A CPU stream only.
mlx::core::array direct_conv(const PackedConv& conv, const std::vector<mlx::core::array>& sources,
                             const std::vector<TapSource>& taps, const std::optional<mlx::core::array>& residual,
                             const std::optional<mlx::core::array>& mask, Activation activation,
                             mlx::core::Stream stream);

// A 3x3 convolution (stride 1, pad 1) by Winograd's minimal filtering F(tile_rows x tile_cols, 3x3), tiles of
// 2 or 4 outputs each way: F(4x4, 3x3) gets each 4x4 block of outputs from a 6x6 block of inputs with 36
// multiplications per input and output channel instead of 144 (F(2x2, 3x3): 16 instead of 36). F(2, 3)'s
// transforms only add, subtract and halve; F(4, 3)'s multiply by up to 8 (and its filter transform by
// sixths), so its results stray further from the direct convolution's, by about 10x its rounding. From the
// [9, O, C] taps (row-major in frequency, time) and the [O] bias.
PackedConv pack_winograd(const mlx::core::array& taps, const mlx::core::array& bias, int tile_rows, int tile_cols,
                         mlx::core::Stream stream);

// What direct_conv(conv, {source}, the 9 taps of a 3x3 kernel on a grid of `cols` columns, ...) computes,
// with pack_winograd's weights, on resnet.cpp's grid: source is [C + 2, N] as in direct_conv, N = items x
// item_rows x cols, each item's last row and last column zero margins, item_rows - 1 a multiple of the tile's
// rows (tiles: 2 or 4 rows by 4 columns). The margin rows of the output are zero. Tiles start on every item's
// first row and column, never read another item's rows, and read the columns past the grid's as zero, so
// an item's outputs are the same bits whatever else is in the batch.
mlx::core::array winograd_conv(const PackedConv& conv, const mlx::core::array& source, int64_t cols, int64_t item_rows,
                               const std::optional<mlx::core::array>& residual,
                               const std::optional<mlx::core::array>& mask, Activation activation,
                               mlx::core::Stream stream);

}  // namespace wespeaker
