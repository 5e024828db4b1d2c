// switchboard: the server executable. Everything it does lives in switchboard_core.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>

#include "server/app.hpp"
#include "server/config.hpp"

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
  spdlog::set_level(spdlog::level::from_str(loaded.value.log_level));
  // A peer that hangs up mid-write is an error code on that connection, not a process signal.
  ::signal(SIGPIPE, SIG_IGN);
  try {
    sb::server::app server(loaded.value);
    return server.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "switchboard: %s\n", e.what());
    return 2;
  }
}
