// The exported C functions. Each one catches everything: no C++ exception crosses the ABI.
#include <array>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include <mlx/version.h>

#include "errors.h"
#include "linkage.h"
#include "resnet.h"
#include "segmentation.h"
#include "stream_pool.h"
#include "wespeaker.h"

struct wespeaker_model {
  wespeaker::ResNet34 net;
};

struct wespeaker_segmenter {
  wespeaker::PyanNet net;
};

struct wespeaker_linkage {
  wespeaker::CentroidLinkage state;
};

namespace {

void write_message(char* err, size_t err_size, const char* message) {
  if (!err || err_size == 0) return;
  const size_t n = std::min(std::strlen(message), err_size - 1);
  std::memcpy(err, message, n);
  err[n] = '\0';
}

template <typename Body>
wespeaker_status guarded(char* err, size_t err_size, Body&& body) {
  wespeaker_status status = WESPEAKER_ERR_RUNTIME;
  try {
    body();
    write_message(err, err_size, "");
    return WESPEAKER_OK;
  } catch (const wespeaker::InvalidArgument& e) {
    status = WESPEAKER_ERR_INVALID_ARGUMENT;
    write_message(err, err_size, e.what());
  } catch (const wespeaker::IoError& e) {
    status = WESPEAKER_ERR_IO;
    write_message(err, err_size, e.what());
  } catch (const wespeaker::FormatError& e) {
    status = WESPEAKER_ERR_FORMAT;
    write_message(err, err_size, e.what());
  } catch (const std::bad_alloc&) {
    write_message(err, err_size, "out of memory");
  } catch (const std::exception& e) {
    write_message(err, err_size, e.what());
  } catch (...) {
    write_message(err, err_size, "unknown internal error");
  }
  return status;
}

// Builds a handle on a stream of its own, which goes back to the pool if construction fails.
template <typename Handle>
wespeaker_status load_handle(const char* path, Handle** out, char* err, size_t err_size) {
  if (out) *out = nullptr;
  return guarded(err, err_size, [&] {
    if (!path) throw wespeaker::InvalidArgument("path is NULL");
    if (!out) throw wespeaker::InvalidArgument("out is NULL");
    const mlx::core::Stream stream = wespeaker::acquire_stream();
    try {
      *out = new Handle{decltype(Handle::net)(path, stream)};
    } catch (...) {
      wespeaker::release_stream(stream);
      throw;
    }
  });
}

template <typename Handle>
void free_handle(Handle* model) {
  if (!model) return;
  const mlx::core::Stream stream = model->net.stream();
  delete model;
  try {
    wespeaker::release_stream(stream);
  } catch (...) {
    // Only allocation can fail here; the stream is then simply not reused.
  }
}

}  // namespace

extern "C" {

uint32_t wespeaker_abi_version(void) { return WESPEAKER_ABI_VERSION; }

const char* wespeaker_version(void) {
  // snprintf into static storage: nothing here can throw.
  static const std::array<char, 96> text = [] {
    std::array<char, 96> buf{};
    std::snprintf(buf.data(), buf.size(), "%s (mlx %s)", WESPEAKER_VERSION, mlx::core::version());
    return buf;
  }();
  return text.data();
}

wespeaker_status wespeaker_model_load(const char* path, wespeaker_model** out, char* err, size_t err_size) {
  return load_handle(path, out, err, err_size);
}

wespeaker_status wespeaker_embed(wespeaker_model* model, const float* features, int64_t batch, int64_t frames,
                                 const int64_t* lengths, const float* weights, int64_t num_masks,
                                 int64_t weight_frames, uint32_t flags, float* out, char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    if (!model) throw wespeaker::InvalidArgument("model is NULL");
    if (flags & ~(WESPEAKER_EMBED_RAW | WESPEAKER_EMBED_EMPTY_MASKS)) throw wespeaker::InvalidArgument("unknown flags " + std::to_string(flags));
    wespeaker::EmbedRequest request;
    request.features = features;
    request.batch = batch;
    request.frames = frames;
    request.lengths = lengths;
    request.weights = weights;
    request.num_masks = num_masks;
    request.weight_frames = weight_frames;
    request.raw = flags & WESPEAKER_EMBED_RAW;
    request.empty_masks = flags & WESPEAKER_EMBED_EMPTY_MASKS;
    request.out = out;
    model->net.embed(request);
  });
}

void wespeaker_model_free(wespeaker_model* model) { free_handle(model); }

wespeaker_status wespeaker_segmenter_load(const char* path, wespeaker_segmenter** out, char* err, size_t err_size) {
  return load_handle(path, out, err, err_size);
}

int64_t wespeaker_segmentation_frames(int64_t samples) { return wespeaker::segmentation_frames(samples); }

wespeaker_status wespeaker_segment(wespeaker_segmenter* model, const float* waveforms, int64_t batch,
                                   int64_t samples, float* out, char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    if (!model) throw wespeaker::InvalidArgument("model is NULL");
    model->net.segment(waveforms, batch, samples, out);
  });
}

void wespeaker_segmenter_free(wespeaker_segmenter* model) { free_handle(model); }

wespeaker_status wespeaker_linkage_start(const double* points, int64_t n, int64_t dim, wespeaker_linkage** out,
                                         char* err, size_t err_size) {
  if (out) *out = nullptr;
  return guarded(err, err_size, [&] {
    if (!out) throw wespeaker::InvalidArgument("out is NULL");
    *out = new wespeaker_linkage{wespeaker::CentroidLinkage(points, n, dim)};
  });
}

wespeaker_status wespeaker_linkage_run(wespeaker_linkage* linkage, int64_t steps, double* z, int64_t* done,
                                       char* err, size_t err_size) {
  return guarded(err, err_size, [&] {
    if (!linkage) throw wespeaker::InvalidArgument("linkage is NULL");
    if (!z) throw wespeaker::InvalidArgument("z is NULL");
    if (!done) throw wespeaker::InvalidArgument("done is NULL");
    if (steps < 0) throw wespeaker::InvalidArgument("steps must be >= 0, got " + std::to_string(steps));
    *done = linkage->state.run(steps, z);
  });
}

void wespeaker_linkage_free(wespeaker_linkage* linkage) { delete linkage; }

}  // extern "C"
