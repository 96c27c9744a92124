// The main of a fuzz target built without libFuzzer (any compiler, the normal
// test suite): runs every file of the corpus folders (or files) it is given,
// then, for --mutate SECONDS, inputs made from them by a fixed-seed mutator
// (bit flips, cut, duplicated and spliced pieces), so that the suite explores a
// little beyond the corpus on every run and deterministically. A broken
// invariant or a sanitizer finding aborts with the input's name on stderr.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

using bytes = std::vector<std::uint8_t>;

// The input running now, written out by the abort handler as replay-crash-input
// (in the working folder) so that a mutant that fails can be kept.
const std::uint8_t* current_data = nullptr;
std::size_t current_size = 0;

extern "C" void save_current(int sig) {
  const int fd = ::open("replay-crash-input", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    std::size_t done = 0;
    while (done < current_size) {
      const ssize_t n = ::write(fd, current_data + done, current_size - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::close(fd);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void run_bytes(const bytes& b) {
  // A copy on the heap of exactly its size, so that ASan sees any over-read.
  auto* copy = static_cast<std::uint8_t*>(std::malloc(b.size() + 1));
  if (!b.empty()) std::memcpy(copy, b.data(), b.size());
  current_data = copy;
  current_size = b.size();
  (void)LLVMFuzzerTestOneInput(copy, b.size());
  current_data = nullptr;
  std::free(copy);
}

bytes read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void run_one(const bytes& b, const std::string& name) {
  // Announced before the run so that an abort names its input.
  std::fprintf(stderr, "running %s (%zu bytes)\n", name.c_str(), b.size());
  run_bytes(b);
}

bytes mutate(const std::vector<bytes>& corpus, std::mt19937& rng) {
  bytes b = corpus[rng() % corpus.size()];
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    const std::size_t n = b.size();
    switch (rng() % 6) {
      case 0:  // flip a bit
        if (n > 0) b[rng() % n] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // a random byte
        if (n > 0) b[rng() % n] = static_cast<std::uint8_t>(rng());
        break;
      case 2:  // cut the tail
        if (n > 0) b.resize(rng() % n);
        break;
      case 3: {  // drop a piece
        if (n < 2) break;
        const std::size_t at = rng() % n, len = 1 + rng() % std::min<std::size_t>(n - at, 16);
        b.erase(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + len));
        break;
      }
      case 4: {  // duplicate a piece
        if (n == 0 || n > 8192) break;
        const std::size_t at = rng() % n, len = 1 + rng() % std::min<std::size_t>(n - at, 64);
        const bytes piece(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + len));
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng() % (n + 1)), piece.begin(), piece.end());
        break;
      }
      default: {  // splice in the tail of another input
        const bytes& other = corpus[rng() % corpus.size()];
        if (other.empty()) break;
        const std::size_t from = rng() % other.size();
        b.resize(n == 0 ? 0 : rng() % n);
        b.insert(b.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
        break;
      }
    }
  }
  if (!b.empty() && rng() % 4 == 0) b[0] = static_cast<std::uint8_t>(rng());  // other choices
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  double mutate_seconds = 0;
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mutate" && i + 1 < argc) {
      mutate_seconds = std::atof(argv[++i]);
      continue;
    }
    const std::filesystem::path p(a);
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (std::filesystem::is_regular_file(p)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "no such corpus: %s\n", a.c_str());
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  ::signal(SIGABRT, save_current);
  ::signal(SIGSEGV, save_current);
  if (files.empty()) {
    std::fprintf(stderr, "usage: %s [--mutate SECONDS] CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  std::vector<bytes> corpus;
  for (const auto& f : files) {
    corpus.push_back(read_file(f));
    run_one(corpus.back(), f.string());
  }
  std::size_t mutated = 0;
  if (mutate_seconds > 0) {
    std::mt19937 rng(12345);
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(mutate_seconds);
    while (std::chrono::steady_clock::now() < end) {
      const bytes b = mutate(corpus, rng);
      // Quiet: a failing mutant is written out by the abort handler.
      ++mutated;
      run_bytes(b);
    }
  }
  std::printf("%zu corpus inputs and %zu mutants ran clean\n", corpus.size(), mutated);
  return 0;
}
