// The recurrence of a bidirectional LSTM layer on the CPU, as one MLX primitive.
//
// As MLX operations each time step is a dozen small operations (a [2, B, H] x [2, H, 4H] product, gate
// slices, sigmoids, tanhs, products), ~2,400 steps per segmentation call, and that bookkeeping was most
// of segmentation-3.0's time. Here a step is one small register-blocked product and the cell update in
// place, the two directions on two threads.
#pragma once

#include <mlx/array.h>
#include <mlx/stream.h>

namespace wespeaker {

// gates [B, T, 2, 4H]: per item, frame and direction (forward, backward) the input projection plus both
// biases; w_hh_t [2, H, 4H]. Returns [B, T, 2H]: per frame the forward then the backward h, as PyTorch's
// bidirectional nn.LSTM (gate order input, forget, cell, output; zero initial state). A CPU stream only.
mlx::core::array lstm_recurrence(const mlx::core::array& gates, const mlx::core::array& w_hh_t,
                                 mlx::core::Stream stream);

}  // namespace wespeaker
