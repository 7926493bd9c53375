/*
 * The segmentation model through the C ABI, meant to run under AddressSanitizer,
 * UndefinedBehaviorSanitizer and LeakSanitizer: repeated load/segment/free cycles, every documented
 * failure of load and segment, and NULL-safe free.
 *
 * usage: test_segmenter SEGMENTATION.safetensors EMBEDDING.safetensors [CYCLES]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wespeaker.h"

#define SAMPLES 16000 /* 1 s chunks keep the sanitized run short */

static int load_fails(const char* path, wespeaker_status expected, const char* fragment) {
  wespeaker_segmenter* model = (wespeaker_segmenter*)0x1;
  char err[512];
  const wespeaker_status status = wespeaker_segmenter_load(path, &model, err, sizeof err);
  return status == expected && model == NULL && strstr(err, fragment) != NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SEGMENTATION.safetensors EMBEDDING.safetensors [CYCLES]\n", argv[0]);
    return 2;
  }
  const char* weights = argv[1];
  const int cycles = argc > 3 ? atoi(argv[3]) : 200;
  static float chunks[2 * SAMPLES];
  for (int i = 0; i < 2 * SAMPLES; i++) chunks[i] = 0.1f * sinf(0.05f * (float)i) + (float)((i * 7919) % 97) / 4850.0f;
  const int64_t frames = wespeaker_segmentation_frames(SAMPLES);
  float* out = malloc(sizeof(float) * 2 * (size_t)frames * WESPEAKER_SEGMENTATION_CLASSES);
  char err[512];

  check(frames == 56, "56 frames for 1 s (1575 sinc frames, 525, 521, 173, 169, 56)");
  check(wespeaker_segmentation_frames(WESPEAKER_SEGMENTATION_MIN_SAMPLES) == 1, "one frame at the minimum");
  check(wespeaker_segmentation_frames(WESPEAKER_SEGMENTATION_MIN_SAMPLES - 1) == 0, "none below it");
  check(wespeaker_segmentation_frames(160000) == 589, "589 frames for 10 s");

  for (int c = 0; c < cycles; c++) {
    wespeaker_segmenter* model = NULL;
    if (wespeaker_segmenter_load(weights, &model, err, sizeof err) != WESPEAKER_OK) {
      printf("FAIL: load in cycle %d: %s\n", c, err);
      return 1;
    }
    if (c % 50 == 0) {
      check(wespeaker_segment(model, chunks, 2, SAMPLES, out, err, sizeof err) == WESPEAKER_OK, "segment in a cycle");
    }
    wespeaker_segmenter_free(model);
  }
  printf("%d load/free cycles done\n", cycles);

  wespeaker_segmenter* model = NULL;
  check(wespeaker_segmenter_load(weights, &model, err, sizeof err) == WESPEAKER_OK, "load");
  check(wespeaker_segment(model, chunks, 2, SAMPLES, out, err, sizeof err) == WESPEAKER_OK, "segment");
  int normalised = 1;
  for (int64_t row = 0; row < 2 * frames; row++) {
    double total = 0;
    for (int k = 0; k < WESPEAKER_SEGMENTATION_CLASSES; k++) total += exp(out[row * WESPEAKER_SEGMENTATION_CLASSES + k]);
    if (fabs(total - 1) > 1e-5) normalised = 0;
  }
  check(normalised, "log-probabilities of each frame sum to 1");

  // Every documented failure of segment, each leaving the model usable.
  check(wespeaker_segment(model, NULL, 1, SAMPLES, out, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT &&
            strstr(err, "waveforms is NULL"),
        "NULL waveforms");
  check(wespeaker_segment(model, chunks, 0, SAMPLES, out, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT &&
            strstr(err, "batch must be"),
        "batch 0");
  check(wespeaker_segment(model, chunks, 1, 990, out, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT &&
            strstr(err, "at least 991"),
        "too few samples");
  check(wespeaker_segment(model, chunks, 1000, WESPEAKER_SEGMENTATION_MAX_SAMPLES, out, err, sizeof err) ==
                WESPEAKER_ERR_INVALID_ARGUMENT &&
            strstr(err, "per-call limit"),
        "too many samples (checked before reading them)");
  check(wespeaker_segment(model, chunks, 1, SAMPLES, NULL, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT &&
            strstr(err, "out is NULL"),
        "NULL out");
  chunks[SAMPLES + 3] = NAN;
  check(wespeaker_segment(model, chunks, 2, SAMPLES, out, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT &&
            strstr(err, "waveforms[1, 3] is NaN"),
        "NaN sample");
  chunks[SAMPLES + 3] = 0;
  check(wespeaker_segment(NULL, chunks, 1, SAMPLES, out, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT,
        "NULL model");
  check(wespeaker_segment(model, chunks, 1, SAMPLES, out, NULL, 0) == WESPEAKER_OK, "NULL error buffer is allowed");
  wespeaker_segmenter_free(model);

  check(load_fails("/nonexistent/s.safetensors", WESPEAKER_ERR_IO, "cannot open"), "missing file");
  check(load_fails(argv[0], WESPEAKER_ERR_FORMAT, "not a valid safetensors"), "not safetensors");
  check(load_fails(argv[2], WESPEAKER_ERR_FORMAT, "missing tensor 'sincnet.wav_norm1d.weight'"),
        "an embedding model is not a segmentation model");
  check(wespeaker_segmenter_load(NULL, &model, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT, "NULL path");
  check(wespeaker_segmenter_load(weights, NULL, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT, "NULL out");
  wespeaker_segmenter_free(NULL);
  free(out);

  return finish();
}
