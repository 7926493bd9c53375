#include "cpu_isa.h"

#include <cstdlib>
#include <string>

namespace wespeaker {
namespace {

CpuIsa detect_isa() {
  const char* forced = std::getenv("WESPEAKER_CPU_KERNEL");
  std::string widest = forced ? forced : "avx512";
  if (widest != "avx2" && widest != "baseline") widest = "avx512";  // unset or unknown: no cap
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (widest == "avx512" && __builtin_cpu_supports("avx512f")) return CpuIsa::avx512;
  if ((widest == "avx512" || widest == "avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return CpuIsa::avx2;
  }
#endif
  return CpuIsa::baseline;
}

}  // namespace

CpuIsa cpu_isa() {
  static const CpuIsa isa = detect_isa();
  return isa;
}

bool cpu_kernels_enabled() {
  const char* forced = std::getenv("WESPEAKER_CPU_KERNEL");
  return !forced || std::string(forced) != "mlx";
}

}  // namespace wespeaker
