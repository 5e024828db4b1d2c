// switchboard: the server executable. Everything it does lives in switchboard_core.
#include <signal.h>

#include <cstdio>
#include <exception>

#include "server/app.hpp"
#include "server/config.hpp"
#include "server/logging.hpp"

int main(int argc, char** argv) {
  auto loaded = sb::server::load_config(argc, argv);
  if (!loaded.help.empty()) {
    std::fputs(loaded.help.c_str(), stdout);
    return 0;
  }
  if (!loaded.error.empty()) {
    std::fprintf(stderr, "switchboard: %s\n", loaded.error.c_str());
    return 2;
  }
  sb::server::setup_logging(loaded.value);
  sb::server::log_effective_config(loaded.value);
  // A peer that hangs up mid-write is an error code on that connection, not a process signal.
  ::signal(SIGPIPE, SIG_IGN);
  try {
    int code = 0;
    {
      sb::server::app server(loaded.value);
      code = server.run();
    }
    sb::server::shutdown_logging();
    return code;
  } catch (const std::exception& e) {
    sb::server::shutdown_logging();  // what was logged before the failure comes first
    std::fprintf(stderr, "switchboard: %s\n", e.what());
    return 2;
  }
}
