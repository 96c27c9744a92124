// Option handling the uptls subcommands share.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "args.hpp"
#include "uptls/backend.hpp"
#include "uptls/config.hpp"

namespace uptls::cli {

// --backend NAME, or the default backend; nullptr (after saying why on stderr) when unknown.
const backend* pick_backend(const args& a);
// --profile strict|legacy (default strict); nullopt (after saying why) otherwise.
std::optional<profile> pick_profile(const args& a);
// --timeout SECONDS (default 30); nullopt (after saying why) unless a positive number.
std::optional<std::chrono::milliseconds> pick_timeout(const args& a);
// A port number from text; nullopt unless 0..65535.
std::optional<std::uint16_t> parse_port(const std::string& text);

}  // namespace uptls::cli
