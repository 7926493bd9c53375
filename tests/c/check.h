/* The C tests' tally: check() reports and counts each expectation, finish() prints the totals and
 * returns the exit status. */
#ifndef WESPEAKER_TEST_CHECK_H
#define WESPEAKER_TEST_CHECK_H

#include <stdio.h>

static int passed, failed;

static void check(int ok, const char* what) {
  printf("%s: %s\n", ok ? "ok" : "FAIL", what);
  if (ok) passed++;
  else failed++;
}

static int finish(void) {
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

#endif
