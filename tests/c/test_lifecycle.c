/*
 * Lifetimes and error paths through the C ABI, meant to run under AddressSanitizer,
 * UndefinedBehaviorSanitizer and LeakSanitizer: repeated load/embed/free cycles, every
 * documented failure of load and embed, and NULL-safe free. Any leak, overflow or undefined
 * behaviour fails the run through the sanitizers; wrong statuses fail it here.
 *
 * usage: test_lifecycle WEIGHTS.safetensors [CYCLES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wespeaker.h"

#define FRAMES 64

static int load_fails(const char* path, wespeaker_status expected, const char* fragment) {
  wespeaker_model* model = (wespeaker_model*)0x1;
  char err[512];
  const wespeaker_status status = wespeaker_model_load(path, &model, err, sizeof err);
  return status == expected && model == NULL && strstr(err, fragment) != NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s WEIGHTS.safetensors [CYCLES]\n", argv[0]);
    return 2;
  }
  const char* weights = argv[1];
  const int cycles = argc > 2 ? atoi(argv[2]) : 1000;
  static float features[2 * FRAMES * WESPEAKER_NUM_MEL_BINS];
  for (int i = 0; i < 2 * FRAMES * WESPEAKER_NUM_MEL_BINS; i++) features[i] = (float)((i * 7919) % 97) / 20.0f - 2.0f;
  float out[2 * 3 * WESPEAKER_EMBEDDING_DIM];
  char err[512];

  for (int c = 0; c < cycles; c++) {
    wespeaker_model* model = NULL;
    if (wespeaker_model_load(weights, &model, err, sizeof err) != WESPEAKER_OK) {
      printf("FAIL: load in cycle %d: %s\n", c, err);
      return 1;
    }
    // A few cycles also embed, so graph evaluation and its buffers are part of what must not leak.
    if (c % 100 == 0) {
      check(wespeaker_embed(model, features, 2, FRAMES, NULL, NULL, 0, 0, 0, out, err, sizeof err) == WESPEAKER_OK,
            "embed in a load/free cycle");
    }
    wespeaker_model_free(model);
  }
  printf("%d load/free cycles done\n", cycles);

  wespeaker_model* model = NULL;
  check(wespeaker_model_load(weights, &model, err, sizeof err) == WESPEAKER_OK, "load");
  const int64_t lengths[2] = {FRAMES, 20};
  float weights_rows[2 * 3 * 40];
  for (int i = 0; i < 2 * 3 * 40; i++) weights_rows[i] = (float)(i % 7 + 1) / 7.0f;
  check(wespeaker_embed(model, features, 2, FRAMES, lengths, weights_rows, 3, 40, WESPEAKER_EMBED_RAW, out, err,
                        sizeof err) == WESPEAKER_OK,
        "embed with lengths, weights and raw output");
  if (failed) printf("  error: %s\n", err);
  // The shortest input leaves the last grids a few points wide: the kernels' reads past them must stay
  // inside what the library allocated.
  check(wespeaker_embed(model, features, 1, WESPEAKER_MIN_FRAMES, NULL, NULL, 0, 0, 0, out, err, sizeof err) ==
            WESPEAKER_OK,
        "embed the shortest input");

  // Every documented failure of embed, each leaving the model usable.
  struct {
    int64_t batch, frames, num_masks, weight_frames;
    const int64_t* lengths;
    const float* weights;
    uint32_t flags;
    const char* fragment;
  } bad[] = {
      {0, FRAMES, 0, 0, NULL, NULL, 0, "batch must be"},
      {1, 8, 0, 0, NULL, NULL, 0, "frames must be"},
      {1, FRAMES, 0, 0, NULL, NULL, 0x80, "unknown flags"},
      {2, FRAMES, 0, 0, (const int64_t[]){FRAMES, 3}, NULL, 0, "lengths[1]"},
      {1, FRAMES, 0, 40, NULL, weights_rows, 0, "num_masks"},
      {1, FRAMES, 1, 0, NULL, weights_rows, 0, "weight_frames"},
      {1, FRAMES, 1, 4, NULL, (const float[]){0, 0, 0, 0}, 0, "all zero"},
      {1, FRAMES, 1, 2, NULL, (const float[]){1, -1}, 0, "must be finite and >= 0"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const wespeaker_status status = wespeaker_embed(model, features, bad[i].batch, bad[i].frames, bad[i].lengths,
                                                    bad[i].weights, bad[i].num_masks, bad[i].weight_frames,
                                                    bad[i].flags, out, err, sizeof err);
    check(status == WESPEAKER_ERR_INVALID_ARGUMENT && strstr(err, bad[i].fragment), bad[i].fragment);
  }
  check(wespeaker_embed(model, NULL, 1, FRAMES, NULL, NULL, 0, 0, 0, out, err, sizeof err) ==
            WESPEAKER_ERR_INVALID_ARGUMENT,
        "NULL features");
  check(wespeaker_embed(model, features, 1, FRAMES, NULL, NULL, 0, 0, 0, NULL, err, sizeof err) ==
            WESPEAKER_ERR_INVALID_ARGUMENT,
        "NULL out");
  check(wespeaker_embed(model, features, 1, FRAMES, NULL, NULL, 0, 0, 0, out, NULL, 0) == WESPEAKER_OK,
        "NULL error buffer is allowed");
  wespeaker_model_free(model);

  check(load_fails("/nonexistent/w.safetensors", WESPEAKER_ERR_IO, "cannot open"), "missing file");
  check(load_fails(argv[0], WESPEAKER_ERR_FORMAT, "not a valid safetensors"), "not safetensors");
  check(wespeaker_model_load(NULL, &model, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT, "NULL path");
  check(wespeaker_model_load(weights, NULL, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT, "NULL out");
  wespeaker_model_free(NULL);

  return finish();
}
