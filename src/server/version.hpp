#pragma once
// The build's identity, written by the build (cmake/version.cmake) so that it is never stale.
#include <string_view>

namespace sb::server {

extern const std::string_view version;       // the project version, "0.1.0"
extern const std::string_view git_revision;  // `git describe --always --dirty`, or "unknown"

}  // namespace sb::server
