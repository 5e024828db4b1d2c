#include "server/config_file_text.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "server/config.hpp"

namespace sb::server {
namespace {

load_result load(std::initializer_list<std::string> args) {
  std::vector<std::string> owned = {"switchboard"};
  owned.insert(owned.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& a : owned) {
    argv.push_back(a.c_str());
  }
  return load_config(static_cast<int>(argv.size()), argv.data());
}

/// Writes `text` to a file in the temp directory, loads it with --config alone, removes it.
load_result load_text(const std::string& text) {
  static int counter = 0;
  auto path = std::filesystem::temp_directory_path() /
              ("switchboard-config-text-test-" + std::to_string(::getpid()) + "-" +
               std::to_string(counter++) + ".toml");
  std::ofstream(path) << text;
  auto r = load({"--config", path.string()});
  std::filesystem::remove(path);
  return r;
}

class ConfigFileText : public ::testing::Test {
 protected:
  ConfigFileText() {
    // The developer's shell must not change what loads.
    for (const auto& e : config_table()) {
      ::unsetenv(env_name(e.key).c_str());
    }
  }
};

TEST_F(ConfigFileText, DefaultsAreAllCommentedOutAndLoadBackToDefaults) {
  auto text = config_file_text(config{});
  const config defaults;
  auto r = load_text(text);
  ASSERT_EQ(r.error, "");
  for (const auto& e : config_table()) {
    EXPECT_NE(text.find("\n# " + std::string(e.key) + " = "), std::string::npos) << e.key;
    EXPECT_EQ(shown_value(r.value, e), shown_value(defaults, e)) << e.key;
  }
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_TRUE(line.empty() || line.starts_with("#")) << line;
    EXPECT_LE(line.size(), 100u) << line;
  }
}

TEST_F(ConfigFileText, ChangedSettingsAreLiveLinesThatLoadBack) {
  auto given = load({"--listen", "0.0.0.0:9000", "--history-dir", "/var/lib/x \"quoted\"",
                     "--no-allow-anonymous-publish", "--max-message-bytes", "128K",
                     "--history-max-bytes", "1000", "--cors-origins", "https://a.example,*",
                     "--reuse-port", "--history-fsync", "always"});
  ASSERT_EQ(given.error, "");
  auto text = config_file_text(given.value);
  EXPECT_NE(text.find("\nlisten = \"0.0.0.0:9000\"\n"), std::string::npos);
  EXPECT_NE(text.find("\nmax_message_bytes = \"128KiB\"\n"), std::string::npos);
  EXPECT_NE(text.find("\nhistory_max_bytes = 1000\n"), std::string::npos);
  EXPECT_NE(text.find("\ncors_origins = [\"https://a.example\", \"*\"]\n"), std::string::npos);
  EXPECT_NE(text.find("[default \"127.0.0.1:8080\"]"), std::string::npos);
  EXPECT_NE(text.find("# heartbeat_s = 15\n"), std::string::npos);
  auto back = load_text(text);
  ASSERT_EQ(back.error, "");
  for (const auto& e : config_table()) {
    EXPECT_EQ(shown_value(back.value, e), shown_value(given.value, e)) << e.key;
  }
}

TEST_F(ConfigFileText, SecretsAreNeverWritten) {
  auto given = load({"--api-keys", "k-one-secret,k-two-secret", "--jwt-secret", "hs-secret-value",
                     "--metrics-token", "metrics-secret-value"});
  ASSERT_EQ(given.error, "");
  auto text = config_file_text(given.value);
  for (const char* secret :
       {"k-one-secret", "k-two-secret", "hs-secret-value", "metrics-secret-value"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  }
  EXPECT_NE(text.find("\n# api_keys = []\n"), std::string::npos);
  EXPECT_NE(text.find("\n# jwt_secret = \"\"\n"), std::string::npos);
}

TEST_F(ConfigFileText, PrintConfigFlagPrintsTheLoadedSettings) {
  auto r = load({"--print-config", "--heartbeat-s", "5"});
  ASSERT_EQ(r.error, "");
  EXPECT_NE(r.help.find("\nheartbeat_s = 5\n"), std::string::npos);
  auto bad = load({"--print-config", "--heartbeat-s", "0"});
  EXPECT_NE(bad.error, "");
  EXPECT_EQ(bad.help, "");
}

}  // namespace
}  // namespace sb::server
