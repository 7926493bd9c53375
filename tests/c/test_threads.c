/*
 * The threading contract of wespeaker.h, checked through the C ABI: a handle used from threads
 * other than the one that loaded it, one handle shared by several threads at once, and handles
 * loaded and used entirely on other threads all give bit-identical embeddings.
 *
 * usage: test_threads WEIGHTS.safetensors
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wespeaker.h"

#define FRAMES 150
#define SHARED_THREADS 4
#define OWN_THREADS 2
#define REPEATS 3

static const char* weights_path;
static float features[FRAMES * WESPEAKER_NUM_MEL_BINS];
static float reference[WESPEAKER_EMBEDDING_DIM];
static int embed_matches(wespeaker_model* model) {
  float out[WESPEAKER_EMBEDDING_DIM];
  char err[512];
  if (wespeaker_embed(model, features, 1, FRAMES, NULL, NULL, 0, 0, 0, out, err, sizeof err) != WESPEAKER_OK) {
    fprintf(stderr, "embed failed: %s\n", err);
    return 0;
  }
  return memcmp(out, reference, sizeof out) == 0;
}

static void* use_shared(void* model) {
  int ok = 1;
  for (int i = 0; i < REPEATS; i++) ok &= embed_matches((wespeaker_model*)model);
  return (void*)(long)ok;
}

static void* use_own(void* unused) {
  (void)unused;
  wespeaker_model* model = NULL;
  char err[512];
  if (wespeaker_model_load(weights_path, &model, err, sizeof err) != WESPEAKER_OK) {
    fprintf(stderr, "load failed: %s\n", err);
    return (void*)0L;
  }
  int ok = 1;
  for (int i = 0; i < REPEATS; i++) ok &= embed_matches(model);
  wespeaker_model_free(model);
  return (void*)(long)ok;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s WEIGHTS.safetensors\n", argv[0]);
    return 2;
  }
  weights_path = argv[1];
  for (int i = 0; i < FRAMES * WESPEAKER_NUM_MEL_BINS; i++) features[i] = (float)(3.0 * sin(0.37 * i) + cos(0.011 * i));

  check(wespeaker_abi_version() == WESPEAKER_ABI_VERSION, "ABI version matches the header");
  wespeaker_model_free(NULL);
  check(1, "free(NULL) is a no-op");

  wespeaker_model* model = NULL;
  char err[512];
  check(wespeaker_model_load(weights_path, &model, err, sizeof err) == WESPEAKER_OK && model, "load");
  if (!model) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  check(wespeaker_embed(model, features, 1, FRAMES, NULL, NULL, 0, 0, 0, reference, err, sizeof err) ==
            WESPEAKER_OK,
        "embed on the loading thread");
  double norm = 0;
  for (int i = 0; i < WESPEAKER_EMBEDDING_DIM; i++) norm += reference[i] * reference[i];
  check(fabs(norm - 1.0) < 1e-5, "embedding is L2-normalised");

  pthread_t shared[SHARED_THREADS], own[OWN_THREADS];
  for (int i = 0; i < SHARED_THREADS; i++) pthread_create(&shared[i], NULL, use_shared, model);
  for (int i = 0; i < OWN_THREADS; i++) pthread_create(&own[i], NULL, use_own, NULL);
  int shared_ok = 1, own_ok = 1;
  for (int i = 0; i < SHARED_THREADS; i++) {
    void* r;
    pthread_join(shared[i], &r);
    shared_ok &= (int)(long)r;
  }
  for (int i = 0; i < OWN_THREADS; i++) {
    void* r;
    pthread_join(own[i], &r);
    own_ok &= (int)(long)r;
  }
  check(shared_ok, "one handle used concurrently from 4 other threads gives identical embeddings");
  check(own_ok, "handles loaded and used on other threads give identical embeddings");

  err[0] = 'x';
  check(wespeaker_embed(NULL, features, 1, FRAMES, NULL, NULL, 0, 0, 0, reference, err, sizeof err) ==
                WESPEAKER_ERR_INVALID_ARGUMENT &&
            strstr(err, "model is NULL"),
        "NULL model is an invalid argument");
  check(wespeaker_embed(model, features, 1, FRAMES, NULL, NULL, 0, 0, 0, reference, err, 8) ==
                WESPEAKER_OK && err[0] == '\0',
        "success clears the error buffer");
  check(wespeaker_embed(model, features, 1, 4, NULL, NULL, 0, 0, 0, reference, err, 8) ==
                WESPEAKER_ERR_INVALID_ARGUMENT && strlen(err) == 7,
        "error text is truncated to the buffer");
  wespeaker_model_free(model);

  return finish();
}
