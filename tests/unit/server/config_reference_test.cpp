#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "server/config_help.hpp"

namespace sb::server {
namespace {

// docs/configuration.md is generated from the config table; a setting added, renamed, re-bounded or
// re-described without regenerating it fails here.
TEST(ConfigReference, TheCommittedDocsMatchTheTable) {
  std::ifstream file(std::string(SWITCHBOARD_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(file) << "docs/configuration.md is missing";
  std::stringstream committed;
  committed << file.rdbuf();
  EXPECT_TRUE(committed.str() == config_reference())
      << "docs/configuration.md differs from what the config table generates; regenerate it with\n"
         "  build/switchboard --config-reference > docs/configuration.md\n"
         "(the text above the table lives in src/server/config_help.cpp)";
}

TEST(ConfigReference, EverySettingHasARow) {
  auto text = config_reference();
  for (const auto& e : config_table()) {
    EXPECT_NE(text.find("| `" + std::string(e.key) + "` |"), std::string::npos) << e.key;
  }
}

}  // namespace
}  // namespace sb::server
