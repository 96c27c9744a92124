/// @file
/// The dialogue log every protocol of uptls writes to.
#pragma once

#include <functional>
#include <string_view>

namespace uptls {

/// Called with each dialogue line: direction "C" (client to server), "S" (server
/// to client) or "*" (a note from uptls, e.g. that TLS was skipped). May be empty.
using trace_fn = std::function<void(std::string_view direction, std::string_view line)>;

}  // namespace uptls
