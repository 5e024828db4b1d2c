#pragma once
// `switchboard --print-config`: a TOML file of every setting, made from the config table so that a
// packaged or hand-kept file cannot drift from what the binary accepts.
#include <string>

#include "server/config.hpp"

namespace sb::server {

/// A TOML file that `--config` reads back to `c`: each setting under its help text, the ones that
/// differ from the built-in defaults as live lines, every other one commented out with its
/// default. Secrets are never written (their lines stay commented and empty).
std::string config_file_text(const config& c);

}  // namespace sb::server
