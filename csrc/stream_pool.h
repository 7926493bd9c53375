// MLX streams for model handles.
//
// MLX's default stream belongs to the thread that created it, while our callers move between
// threads (Deno's nonblocking FFI calls run on a thread pool, Workers have their own threads).
// Each handle therefore computes on a stream that is not bound to any thread, borrowed from this
// pool while the handle lives. Streams cannot be destroyed individually, so they are recycled:
// the pool never holds more streams than there were handles alive at once.
#pragma once

#include <mlx/stream.h>

namespace wespeaker {

mlx::core::Stream acquire_stream();
void release_stream(mlx::core::Stream stream);

}  // namespace wespeaker
