#pragma once
// The text of `switchboard --help` and `--version`, made from the config table so that every
// setting is described once (its entry) and shown with its type, environment name and default.
#include <string>

#include "server/config.hpp"

namespace sb::server {

/// Every option, typed (SIZE, SECONDS, HOST:PORT, plain flags with --no-…) and wrapped to 100
/// columns; defaults are those of `defaults`, secrets never shown.
std::string help_text(const config& defaults);

/// docs/configuration.md: what applies to every setting, then one row per table entry (key,
/// default, help, range). `switchboard --config-reference` prints it; a unit test fails when the
/// committed file differs.
std::string config_reference();

/// "switchboard 0.1.0 (git 1a2b3c4)" and a newline.
std::string version_text();

}  // namespace sb::server
