// Strict pins: in memory, in a file, expiry, and hostile or broken files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support.hpp"  // how gtest prints a result
#include "uptls/fallback.hpp"

namespace uptls {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A fresh directory per test, removed afterwards.
class PinFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("uptls-pins-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path file() const { return dir_ / "pins"; }
  void write(const std::string& text) const { std::ofstream(file(), std::ios::binary) << text; }
  std::string read() const {
    std::ifstream in(file(), std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  fs::path dir_;
};

TEST(PinMemory, PinsHostAndPortWithoutCase) {
  pin_store pins;
  EXPECT_FALSE(pins.is_pinned("mail.example", 25));
  EXPECT_EQ(pins.pin("Mail.Example", 25), std::error_code{});
  EXPECT_TRUE(pins.is_pinned("mail.example", 25));
  EXPECT_TRUE(pins.is_pinned("MAIL.EXAMPLE", 25));
  EXPECT_FALSE(pins.is_pinned("mail.example", 587));  // another port is another service
  EXPECT_FALSE(pins.is_pinned("other.example", 25));
  EXPECT_EQ(pins.size(), 1u);
  EXPECT_TRUE(pins.file().empty());
}

TEST(PinMemory, UnpinForgets) {
  pin_store pins;
  ASSERT_EQ(pins.pin("::1", 465), std::error_code{});
  EXPECT_TRUE(pins.is_pinned("::1", 465));
  EXPECT_EQ(pins.unpin("::1", 465), std::error_code{});
  EXPECT_FALSE(pins.is_pinned("::1", 465));
  EXPECT_EQ(pins.unpin("::1", 465), std::error_code{});  // twice is fine
}

TEST(PinMemory, RefusesNamesThatCannotBeStored) {
  pin_store pins;
  EXPECT_EQ(pins.pin("", 25), errc::usage);
  EXPECT_EQ(pins.pin("two words", 25), errc::usage);
  EXPECT_EQ(pins.pin("new\nline", 25), errc::usage);
  EXPECT_EQ(pins.pin("host", 0), errc::usage);
  EXPECT_EQ(pins.pin(std::string(254, 'a'), 25), errc::usage);
  EXPECT_EQ(pins.size(), 0u);
}

TEST(PinMemory, ZeroTtlPinsExpireAtOnce) {
  pin_store pins(0s);
  EXPECT_EQ(pins.pin("mail.example", 25), std::error_code{});
  EXPECT_FALSE(pins.is_pinned("mail.example", 25));
  EXPECT_EQ(pins.size(), 0u);
}

TEST_F(PinFile, WrittenAndReadBack) {
  {
    pin_store pins(file(), 3600s);
    EXPECT_EQ(pins.file(), file());
    ASSERT_EQ(pins.pin("Mail.Example", 25), std::error_code{});
    ASSERT_EQ(pins.pin("127.0.0.1", 465), std::error_code{});
  }
  const std::string text = read();
  EXPECT_EQ(text.rfind("# uptls strict pins", 0), 0u) << text;
  EXPECT_NE(text.find("\nmail.example 25 "), std::string::npos) << text;
  EXPECT_NE(text.find("\n127.0.0.1 465 "), std::string::npos) << text;

  // The expiry written is about now + ttl.
  std::istringstream lines(text);
  std::string line;
  int entries = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    ++entries;
    const auto expiry = std::stoll(line.substr(line.rfind(' ') + 1));
    EXPECT_GE(expiry, unix_now() + 3590);
    EXPECT_LE(expiry, unix_now() + 3610);
  }
  EXPECT_EQ(entries, 2);

  pin_store again(file());
  EXPECT_TRUE(again.is_pinned("mail.example", 25));
  EXPECT_TRUE(again.is_pinned("127.0.0.1", 465));
  EXPECT_EQ(again.size(), 2u);

  // No temporary file is left behind, and the file is private.
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1);
  struct stat st {};
  ASSERT_EQ(::stat(file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(PinFile, UnpinRewritesTheFile) {
  {
    pin_store pins(file());
    ASSERT_EQ(pins.pin("a.example", 25), std::error_code{});
    ASSERT_EQ(pins.pin("b.example", 25), std::error_code{});
    ASSERT_EQ(pins.unpin("a.example", 25), std::error_code{});
  }
  pin_store again(file());
  EXPECT_FALSE(again.is_pinned("a.example", 25));
  EXPECT_TRUE(again.is_pinned("b.example", 25));
}

TEST_F(PinFile, ExpiredEntriesAreIgnoredAndDropped) {
  const auto now = unix_now();
  write("past.example 25 " + std::to_string(now - 10) + "\n" +
        "future.example 25 " + std::to_string(now + 1000) + "\n");
  pin_store pins(file());
  EXPECT_FALSE(pins.is_pinned("past.example", 25));
  EXPECT_TRUE(pins.is_pinned("future.example", 25));
  EXPECT_EQ(pins.size(), 1u);
  ASSERT_EQ(pins.pin("new.example", 587), std::error_code{});
  const std::string text = read();
  EXPECT_EQ(text.find("past.example"), std::string::npos) << text;
  EXPECT_NE(text.find("future.example 25 " + std::to_string(now + 1000)), std::string::npos) << text;
}

TEST_F(PinFile, BadLinesAreIgnored) {
  const auto later = std::to_string(unix_now() + 1000);
  write("# a comment\n"
        "\n"
        "good.example 25 " + later + "\n"
        "crlf.example 25 " + later + "\r\n"
        "noport.example " + later + "\n"
        "zero.example 0 " + later + "\n"
        "big.example 65536 " + later + "\n"
        "neg.example 25 -5\n"
        "word.example 25 soon\n"
        "extra.example 25 " + later + " more\n"
        "two  spaces 25 " + later + "\n"
        "plus.example +25 " + later + "\n"
        " lead.example 25 " + later + "\n"
        "hash#.example 25 " + later + "\n" +
        std::string(600, 'x') + " 25 " + later + "\n"
        "\x01\x02\xff garbage\n"
        "last.example 25 " + later);  // no final newline
  pin_store pins(file());
  EXPECT_TRUE(pins.is_pinned("good.example", 25));
  EXPECT_TRUE(pins.is_pinned("crlf.example", 25));
  EXPECT_TRUE(pins.is_pinned("last.example", 25));
  for (const char* bad : {"noport.example", "zero.example", "big.example", "neg.example", "word.example",
                          "extra.example", "plus.example", "lead.example", "hash#.example"}) {
    for (std::uint16_t port : {std::uint16_t{25}, std::uint16_t{0}}) EXPECT_FALSE(pins.is_pinned(bad, port)) << bad;
  }
  EXPECT_EQ(pins.size(), 3u);
}

// Found by fuzzing the file reader: an expiry past the year 2262 overflowed the
// conversion to system_clock's nanoseconds (undefined behaviour; under UBSan an
// abort). Such a line is bad and ignored; a far but representable one still counts.
TEST_F(PinFile, ExpiryBeyondTheClockIsABadLine) {
  write("far.example 25 41002444800\n"
        "max.example 25 9223372036854775807\n"
        "y2100.example 25 4102444800\n");
  pin_store pins(file());
  EXPECT_FALSE(pins.is_pinned("far.example", 25));
  EXPECT_FALSE(pins.is_pinned("max.example", 25));
  EXPECT_TRUE(pins.is_pinned("y2100.example", 25));
  EXPECT_EQ(pins.size(), 1u);
}

TEST_F(PinFile, BinaryGarbageIsAnEmptyStore) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 7919) & 0xff);
  write(junk);
  pin_store pins(file());
  EXPECT_EQ(pins.size(), 0u);
  EXPECT_EQ(pins.pin("mail.example", 25), std::error_code{});  // and it can be rewritten cleanly
  pin_store again(file());
  EXPECT_EQ(again.size(), 1u);
}

TEST_F(PinFile, MissingFileIsAnEmptyStore) {
  pin_store pins(file());
  EXPECT_EQ(pins.size(), 0u);
  EXPECT_FALSE(fs::exists(file()));  // nothing written until there is a pin
}

TEST_F(PinFile, UnwritableFileKeepsThePinInMemory) {
  pin_store pins(dir_ / "no-such-dir" / "pins");
  const result<> r = pins.pin("mail.example", 25);
  // The file's folder does not exist: the error says so.
  EXPECT_TRUE(r.failed()) << to_string(r);
  EXPECT_EQ(r.error(), std::errc::no_such_file_or_directory) << to_string(r);
  EXPECT_TRUE(pins.is_pinned("mail.example", 25));
}

TEST_F(PinFile, DirectoryInsteadOfFileIsNoCrash) {
  fs::create_directories(file());
  pin_store pins(file());
  EXPECT_EQ(pins.size(), 0u);
  // The new file cannot be renamed over a directory: the pin fails to save, and says why.
  const result<> r = pins.pin("mail.example", 25);
  EXPECT_TRUE(r.failed()) << to_string(r);
  EXPECT_EQ(r.error(), std::errc::is_a_directory) << to_string(r);
  EXPECT_TRUE(pins.is_pinned("mail.example", 25));
}

}  // namespace
}  // namespace uptls
