// Which vector instructions libwespeaker's own CPU kernels use, and the vector types they are written
// in (GCC/Clang vector extensions: each kernel is compiled once per instruction set from one template).
#pragma once

#include <cstdint>

namespace wespeaker {

enum class CpuIsa { avx512, avx2, baseline };

// The widest set this CPU runs (x86-64: AVX-512F, else AVX2 with FMA, else SSE2; elsewhere the
// baseline, NEON on arm64), capped by WESPEAKER_CPU_KERNEL=avx512|avx2|baseline (so that the tests can
// check each kernel on one machine; any other value caps nothing). Read once.
CpuIsa cpu_isa();

// Whether a model loaded now on a CPU stream computes with libwespeaker's own kernels (direct convolution,
// Winograd, the LSTM recurrence): yes, unless WESPEAKER_CPU_KERNEL=mlx asks for the plain MLX operations
// that GPU streams (Metal, CUDA) run, so that their code path can be tested on any machine. Read at each
// load; a handle keeps the path it was loaded with.
bool cpu_kernels_enabled();

// The build of a kernel for cpu_isa(), from its AVX-512, AVX2+FMA and baseline builds.
template <class F>
F for_cpu_isa(F avx512, F avx2, F baseline) {
  switch (cpu_isa()) {
    case CpuIsa::avx512:
      return avx512;
    case CpuIsa::avx2:
      return avx2;
    default:
      return baseline;
  }
}

// for_cpu_isa() where only x86-64 has the AVX builds: elsewhere they are not defined, and the macro does
// not name them.
#if defined(__x86_64__)
#define WESPEAKER_KERNEL_FOR_CPU(avx512, avx2, baseline) ::wespeaker::for_cpu_isa(avx512, avx2, baseline)
#else
#define WESPEAKER_KERNEL_FOR_CPU(avx512, avx2, baseline) (baseline)
#endif

typedef float v4 __attribute__((vector_size(16)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));

// Unaligned loads and stores of a vector. always_inline,
// as everything the kernels call: inlined into a target("avx512f") caller, they compile for it.
template <class V>
__attribute__((always_inline)) inline V load(const float* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof(V));
  return v;
}

template <class V>
__attribute__((always_inline)) inline void store(float* p, V v) {
  __builtin_memcpy(p, &v, sizeof(V));
}

}  // namespace wespeaker
