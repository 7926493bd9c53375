/*
 * The clustering linkage through the C ABI, meant to run under AddressSanitizer, UndefinedBehaviorSanitizer
 * and LeakSanitizer: a small tree checked row by row, the same input advanced one step at a time, every
 * documented failure, and NULL-safe free. The large-scale checks (against SciPy and against a scan) are in
 * tests/linkage.test.ts.
 *
 * usage: test_linkage
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wespeaker.h"

static int starts_fail(const double* points, int64_t n, int64_t dim, const char* fragment) {
  wespeaker_linkage* linkage = (wespeaker_linkage*)0x1;
  char err[512];
  const wespeaker_status status = wespeaker_linkage_start(points, n, dim, &linkage, err, sizeof err);
  return status == WESPEAKER_ERR_INVALID_ARGUMENT && linkage == NULL && strstr(err, fragment) != NULL;
}

int main(void) {
  char err[512];
  // Points on a line at 0, 1, 3 and 7: merge {0, 1} at 1 (centroid 0.5), then 3 at 2.5 (centroid 4/3), then 7.
  const double line[] = {0, 1, 3, 7};
  const double expected[] = {0, 1, 1, 2, 2, 4, 2.5, 3, 3, 5, 7 - 4.0 / 3, 4};
  double z[12];
  wespeaker_linkage* linkage = NULL;
  check(wespeaker_linkage_start(line, 4, 1, &linkage, err, sizeof err) == WESPEAKER_OK, "start");
  int64_t done = -1;
  check(wespeaker_linkage_run(linkage, 1000, z, &done, err, sizeof err) == WESPEAKER_OK && done == 7,
        "run to the end: 2n - 1 steps");
  int same = 1;
  for (int i = 0; i < 12; i++) same &= fabs(z[i] - expected[i]) <= 1e-12;
  check(same, "the tree of four points on a line");
  check(wespeaker_linkage_run(linkage, 5, z, &done, err, sizeof err) == WESPEAKER_OK && done == 7,
        "running past the end does nothing");
  wespeaker_linkage_free(linkage);

  // 200 points in 300 dimensions (a float32 row not a multiple of the vector width), one step per call.
  enum { N = 200, DIM = 300 };
  double* points = malloc(sizeof(double) * N * DIM);
  double* zs = malloc(sizeof(double) * (N - 1) * 4);
  unsigned state = 12345;
  for (int i = 0; i < N * DIM; i++) {
    state = state * 1103515245u + 12345u;
    points[i] = (double)(state >> 8) / 16777216.0 + (i / DIM % 5);
  }
  check(wespeaker_linkage_start(points, N, DIM, &linkage, err, sizeof err) == WESPEAKER_OK, "start 200 x 300");
  int64_t steps = 0, last = 0;
  int monotone = 1;
  while (last < 2 * N - 1) {
    if (wespeaker_linkage_run(linkage, 1, zs, &done, err, sizeof err) != WESPEAKER_OK) break;
    monotone &= done == last + 1;
    last = done;
    steps++;
  }
  check(monotone && steps == 2 * N - 1, "one step per call, 2n - 1 calls");
  check(zs[4 * (N - 2) + 3] == N, "the last merge holds every point");
  check(wespeaker_linkage_run(linkage, -1, zs, &done, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT &&
            strstr(err, "steps"),
        "negative steps");
  check(wespeaker_linkage_run(linkage, 1, NULL, &done, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT, "NULL z");
  check(wespeaker_linkage_run(linkage, 1, zs, NULL, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT, "NULL done");
  wespeaker_linkage_free(linkage);
  free(points);
  free(zs);

  const double nan[] = {0, NAN, 1, 2};
  check(starts_fail(line, 1, 1, "n must be"), "one point");
  check(starts_fail(line, 4, 0, "dim must be"), "zero dimensions");
  check(starts_fail(nan, 2, 2, "point 0 coordinate 1"), "a NaN coordinate");
  check(starts_fail(NULL, 2, 2, "points is NULL"), "NULL points");
  check(wespeaker_linkage_start(line, 4, 1, NULL, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT, "NULL out");
  // Coordinates whose squared differences overflow: a status, never a NaN tree.
  const double huge[] = {1e300, -1e300, 0};
  check(wespeaker_linkage_start(huge, 3, 1, &linkage, err, sizeof err) == WESPEAKER_OK, "start huge");
  check(wespeaker_linkage_run(linkage, 10, z, &done, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT &&
            strstr(err, "overflows"),
        "overflowing distances");
  wespeaker_linkage_free(linkage);
  check(wespeaker_linkage_run(NULL, 1, z, &done, err, sizeof err) == WESPEAKER_ERR_INVALID_ARGUMENT, "NULL state");
  wespeaker_linkage_free(NULL);
  return finish();
}
