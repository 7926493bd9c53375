/*
 * libwespeaker: WeSpeaker ResNet34-LM speaker embeddings over MLX.
 *
 * This header is the library's whole ABI.
 *
 * Ownership, stated once:
 *   - A model handle is created by wespeaker_model_load() and owned by the caller until it is
 *     passed to wespeaker_model_free(). Nothing else frees it. The same holds for segmenters
 *     (wespeaker_segmenter_load/free) and clustering states (wespeaker_linkage_start/free).
 *   - Every other pointer argument is borrowed for the duration of the call only: the library
 *     never keeps, frees or writes past the documented size of a caller's buffer.
 *   - Strings returned by the library (wespeaker_version) are static and must not be freed.
 *
 * Errors: every function that can fail returns a wespeaker_status. When `err` is non-NULL and
 * `err_size` > 0, a NUL-terminated, human-readable message (truncated to fit) is written there
 * on failure, and err[0] is set to '\0' on success. No C++ exception ever crosses this ABI.
 *
 * Threads: a handle may be used from any thread, including threads other than the one that
 * loaded it (each handle owns its MLX stream, which is not bound to a thread). Calls on the same
 * handle are serialised by a per-handle mutex; different handles run concurrently. Freeing a
 * handle while another thread is inside a call on it is undefined behaviour.
 */
#ifndef WESPEAKER_H
#define WESPEAKER_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define WESPEAKER_API __declspec(dllexport)
#else
#define WESPEAKER_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Incremented on any incompatible change to the declarations below. */
#define WESPEAKER_ABI_VERSION 3

/* Model constants: features in, embeddings out. */
#define WESPEAKER_NUM_MEL_BINS 80
#define WESPEAKER_EMBEDDING_DIM 256
/* Most frames (batch x frames) in one wespeaker_embed call, about 22 minutes of audio: peak memory
 * grows with it (about 37 KB per frame). */
#define WESPEAKER_MAX_BATCH_FRAMES 131072
/* Fewest (valid) feature frames per item: the trunk divides time by 8 and the unbiased standard
 * deviation needs at least 2 frames there. */
#define WESPEAKER_MIN_FRAMES 9

/* Segmentation model constants: 16 kHz samples in, log-probabilities of 7 powerset classes out (no
 * speaker; speakers 1, 2, 3 alone; pairs {1,2}, {1,3}, {2,3}), one frame per 270 samples. */
#define WESPEAKER_SEGMENTATION_SAMPLE_RATE 16000
#define WESPEAKER_SEGMENTATION_CLASSES 7
/* Fewest samples per chunk (one output frame), and most samples (batch x samples) per call: 64
 * chunks of 10 s, bounding peak memory to about 1 GB. */
#define WESPEAKER_SEGMENTATION_MIN_SAMPLES 991
#define WESPEAKER_SEGMENTATION_MAX_SAMPLES 10240000

typedef enum wespeaker_status {
  WESPEAKER_OK = 0,
  /* A NULL pointer, a dimension out of range, a non-finite feature, a negative weight, a mask
   * with zero total weight. */
  WESPEAKER_ERR_INVALID_ARGUMENT = 1,
  /* The weights file could not be opened or read. */
  WESPEAKER_ERR_IO = 2,
  /* The weights file is not the expected safetensors layout: truncated, a missing, unexpected or
   * wrongly shaped tensor, or a non-float32 dtype. The message names the first offending key. */
  WESPEAKER_ERR_FORMAT = 3,
  /* Anything else raised inside MLX (out of memory included). */
  WESPEAKER_ERR_RUNTIME = 4
} wespeaker_status;

/* Opaque handles: a speaker embedding model, a segmentation model. */
typedef struct wespeaker_model wespeaker_model;
typedef struct wespeaker_segmenter wespeaker_segmenter;

/* Flags for wespeaker_embed(). */
#define WESPEAKER_EMBED_RAW 1u /* return the un-normalised output of the final Linear layer */
/* Accept weight rows that are zero on every frame the trunk keeps, and pool them as pyannote's
 * StatsPool does (zero statistics: the raw embedding is the final layer's bias). Without it such a
 * row is an INVALID_ARGUMENT error. For parity with pyannote's diarization pipeline. */
#define WESPEAKER_EMBED_EMPTY_MASKS 2u

/* WESPEAKER_ABI_VERSION of the library actually loaded. Never fails. */
WESPEAKER_API uint32_t wespeaker_abi_version(void);

/* Library and MLX versions, e.g. "0.1.0 (mlx 0.32.4)". Static string. Never fails. */
WESPEAKER_API const char* wespeaker_version(void);

/*
 * Load a model from a .safetensors file in the layout of the seed MLX weights (BatchNorm fused,
 * conv weights [O, kH(frequency), kW(time), I]). Every tensor is validated and read into memory
 * here, so a bad file fails now rather than in the first embed.
 *
 * On success stores a new handle in *out and returns WESPEAKER_OK; on failure stores NULL.
 * Returns INVALID_ARGUMENT (path or out NULL), IO, FORMAT or RUNTIME.
 */
WESPEAKER_API wespeaker_status wespeaker_model_load(const char* path, wespeaker_model** out, char* err,
                                                     size_t err_size);

/*
 * Embed a batch of fbank feature sequences.
 *
 *   features  [batch, frames, 80] float32, row-major (80 Kaldi log-mel bins per frame, already
 *             mean-normalised per clip); batch x frames <= WESPEAKER_MAX_BATCH_FRAMES.
 *   lengths   NULL, or [batch] valid frames per item (WESPEAKER_MIN_FRAMES..frames). Item b is then
 *             computed exactly as the unpadded clip features[b, :lengths[b]]; the padding is
 *             ignored whatever it holds.
 *   weights   NULL for plain statistics pooling (mean and unbiased std + 1e-7 over time), or
 *             [batch, num_masks, weight_frames] float32 in [0, inf): per-frame weights for weighted
 *             statistics pooling (pyannote StatsPool). Each row spans the item's valid frames at
 *             any resolution and is resampled to the trunk's frame rate by nearest neighbour
 *             (PyTorch F.interpolate semantics). Every row needs a positive total weight
 *             (unless WESPEAKER_EMBED_EMPTY_MASKS).
 *   num_masks, weight_frames  ignored when weights is NULL; else both >= 1.
 *   flags     0, or WESPEAKER_EMBED_RAW and/or WESPEAKER_EMBED_EMPTY_MASKS.
 *   out       [batch, S, 256] float32 with S = num_masks (weights given) or 1: L2-normalised
 *             embeddings, or raw ones with WESPEAKER_EMBED_RAW.
 *
 * Returns OK, INVALID_ARGUMENT (the message names the argument, item, frame or mask) or RUNTIME.
 * On failure `out` is left unspecified.
 */
WESPEAKER_API wespeaker_status wespeaker_embed(wespeaker_model* model, const float* features, int64_t batch,
                                               int64_t frames, const int64_t* lengths, const float* weights,
                                               int64_t num_masks, int64_t weight_frames, uint32_t flags,
                                               float* out, char* err, size_t err_size);

/* Release a handle and its weights. NULL is a no-op. */
WESPEAKER_API void wespeaker_model_free(wespeaker_model* model);

/*
 * Load a pyannote segmentation-3.0 model from a .safetensors file converted from its checkpoint
 * (PyTorch tensor names and layouts, the sinc filters precomputed as sincnet.conv1d.0.weight
 * [80, 1, 251]). Validated and read into memory here. Same contract as wespeaker_model_load.
 */
WESPEAKER_API wespeaker_status wespeaker_segmenter_load(const char* path, wespeaker_segmenter** out, char* err,
                                                         size_t err_size);

/* Output frames per chunk of `samples` samples (589 for 10 s); 0 below WESPEAKER_SEGMENTATION_MIN_SAMPLES. */
WESPEAKER_API int64_t wespeaker_segmentation_frames(int64_t samples);

/*
 * Segment a batch of equal-length chunks.
 *
 *   waveforms  [batch, samples] float32 at 16 kHz, finite; batch x samples <=
 *              WESPEAKER_SEGMENTATION_MAX_SAMPLES, samples >= WESPEAKER_SEGMENTATION_MIN_SAMPLES.
 *   out        [batch, wespeaker_segmentation_frames(samples), 7] float32 log-probabilities.
 *
 * Returns OK, INVALID_ARGUMENT (the message names the argument, or the chunk and sample) or RUNTIME.
 */
WESPEAKER_API wespeaker_status wespeaker_segment(wespeaker_segmenter* model, const float* waveforms, int64_t batch,
                                                 int64_t samples, float* out, char* err, size_t err_size);

/* Release a segmentation handle. NULL is a no-op. */
WESPEAKER_API void wespeaker_segmenter_free(wespeaker_segmenter* model);

/*
 * Centroid-linkage hierarchical clustering, as scipy.cluster.hierarchy.linkage(points,
 * method="centroid") computes it (same merge order and tie-breaking; heights from the clusters'
 * centroids, which agree with SciPy's Lance-Williams updates to rounding), in memory linear in n.
 * It runs in steps so that the caller can report progress: 2 (n - 1) units of work in all, one per
 * point's first neighbour search and one per merge. Not thread-safe per state.
 *
 * wespeaker_linkage_start copies points [n, dim] (float64, finite; n >= 2) into a new state stored in
 * *out (NULL on failure). Returns OK, INVALID_ARGUMENT or RUNTIME.
 *
 * wespeaker_linkage_run does up to `steps` more units and writes the rows of the [n - 1, 4] linkage
 * matrix z they complete (node ids, smaller first; height; size), leaving earlier rows alone: pass the
 * same z to every call. *done receives the units done so far. Returns OK, INVALID_ARGUMENT (a distance
 * between clusters overflows) or RUNTIME; after a failure the state can only be freed.
 */
typedef struct wespeaker_linkage wespeaker_linkage;
WESPEAKER_API wespeaker_status wespeaker_linkage_start(const double* points, int64_t n, int64_t dim,
                                                       wespeaker_linkage** out, char* err, size_t err_size);
WESPEAKER_API wespeaker_status wespeaker_linkage_run(wespeaker_linkage* linkage, int64_t steps, double* z,
                                                     int64_t* done, char* err, size_t err_size);
/* Release a clustering state. NULL is a no-op. */
WESPEAKER_API void wespeaker_linkage_free(wespeaker_linkage* linkage);

#ifdef __cplusplus
}
#endif

#endif /* WESPEAKER_H */
