// wespeaker-roofline: the float32 matrix-product throughput of MLX on this machine, the ceiling
// that scripts/bench.ts measures the network's achieved GFLOP/s against.
//
//   wespeaker-roofline [--size N] [--runs R] [--warmup W] [--json]
//
// Multiplies two N x N float32 matrices (default 2048) R times (default 10) after W warm-up
// products (default 2), each product evaluated on its own, and prints the median throughput as
// 2 N^3 / seconds. It is linked exactly like libwespeaker (same MLX, OpenBLAS ahead of MLX's
// bundled reference BLAS), so its products run through the same BLAS with the same threads
// (OPENBLAS_NUM_THREADS). With --json it prints one JSON object instead of a line of text.
// Not part of the library's ABI.

#include <dlfcn.h>
#include <mlx/mlx.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace mx = mlx::core;

namespace {

struct Options {
  int size = 2048;
  int runs = 10;
  int warmup = 2;
  bool json = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "wespeaker-roofline: %s\nusage: wespeaker-roofline [--size N] [--runs R] [--warmup W] [--json]\n",
               why);
  std::exit(2);
}

int positive(const char* flag, const char* value, int min) {
  if (!value) usage((std::string(flag) + " needs a value").c_str());
  char* end = nullptr;
  const long v = std::strtol(value, &end, 10);
  if (*end != '\0' || v < min || v > 1 << 16) usage((std::string(flag) + ": bad value '" + value + "'").c_str());
  return int(v);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    if (!std::strcmp(a, "--size")) o.size = positive(a, next, 1), ++i;
    else if (!std::strcmp(a, "--runs")) o.runs = positive(a, next, 1), ++i;
    else if (!std::strcmp(a, "--warmup")) o.warmup = positive(a, next, 0), ++i;
    else if (!std::strcmp(a, "--json")) o.json = true;
    else usage((std::string("unknown argument '") + a + "'").c_str());
  }
  return o;
}

// The shared object that cblas_sgemm resolves to in the global scope, where libmlx's own calls
// resolve too: which BLAS the products run on.
std::string blas_library() {
  void* symbol = dlsym(RTLD_DEFAULT, "cblas_sgemm");
  Dl_info info{};
  if (symbol && dladdr(symbol, &info) && info.dli_fname) return info.dli_fname;
  return "unknown";
}

// OpenBLAS describes its build and the kernel it picked at run time (e.g. "... SkylakeX MAX_THREADS=64").
std::string blas_config() {
  using Config = const char* (*)();
  auto config = reinterpret_cast<Config>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  return config ? config() : "";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    const mx::Stream s = mx::default_stream(mx::Device::cpu);
    const mx::array a = mx::random::normal({o.size, o.size}, mx::float32, 0.0f, 1.0f, mx::random::key(1), s);
    const mx::array b = mx::random::normal({o.size, o.size}, mx::float32, 0.0f, 1.0f, mx::random::key(2), s);
    mx::eval({a, b});

    std::vector<double> seconds;
    for (int i = 0; i < o.warmup + o.runs; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      mx::array c = mx::matmul(a, b, s);
      mx::eval(c);
      const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
      if (i >= o.warmup) seconds.push_back(dt.count());
    }
    std::vector<double> sorted = seconds;
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    const double flops = 2.0 * double(o.size) * double(o.size) * double(o.size);
    const double gflops = flops / median / 1e9;
    const std::string mlx = std::to_string(MLX_VERSION_MAJOR) + "." + std::to_string(MLX_VERSION_MINOR) + "." +
                            std::to_string(MLX_VERSION_PATCH);
    if (o.json) {
      std::printf("{\"size\":%d,\"dtype\":\"float32\",\"runs\":%d,\"warmup\":%d,\"median_s\":%.9g,"
                  "\"min_s\":%.9g,\"max_s\":%.9g,\"gflops\":%.6g,\"max_gflops\":%.6g,\"mlx\":%s,\"blas\":%s,"
                  "\"blas_config\":%s,\"seconds\":[",
                  o.size, o.runs, o.warmup, median, sorted.front(), sorted.back(), gflops, flops / sorted.front() / 1e9,
                  json_string(mlx).c_str(), json_string(blas_library()).c_str(), json_string(blas_config()).c_str());
      for (size_t i = 0; i < seconds.size(); ++i) std::printf("%s%.9g", i ? "," : "", seconds[i]);
      std::printf("]}\n");
    } else {
      std::printf("%d x %d float32 matmul: %.1f GFLOP/s (median of %d, %.2f-%.2f ms), MLX %s, BLAS %s %s\n",
                  o.size, o.size, gflops, o.runs, 1e3 * sorted.front(), 1e3 * sorted.back(), mlx.c_str(),
                  blas_library().c_str(), blas_config().c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wespeaker-roofline: %s\n", e.what());
    return 1;
  }
  return 0;
}
