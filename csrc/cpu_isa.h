// Which vector instructions libwespeaker's own CPU kernels use.
#pragma once

namespace wespeaker {

enum class CpuIsa { avx512, avx2, baseline };

// The widest set this CPU runs (x86-64: AVX-512F, else AVX2 with FMA, else SSE2; elsewhere the
// baseline, NEON on arm64), capped by WESPEAKER_CPU_KERNEL=avx512|avx2|baseline so that the tests can
// check each kernel on one machine. Read once.
CpuIsa cpu_isa();

}  // namespace wespeaker
