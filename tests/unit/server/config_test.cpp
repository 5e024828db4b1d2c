#include "server/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace sb::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// Sets (or unsets) an environment variable for the life of the guard.
class env_var {
 public:
  env_var(std::string name, const char* value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) {
      old_ = old;
    }
    if (value) {
      ::setenv(name_.c_str(), value, 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  env_var(const env_var&) = delete;
  env_var& operator=(const env_var&) = delete;
  ~env_var() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

/// A TOML file in the temp directory, removed afterwards.
class temp_toml {
 public:
  explicit temp_toml(std::string_view text) {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("switchboard-config-test-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter++) + ".toml");
    std::ofstream(path_) << text;
  }
  temp_toml(const temp_toml&) = delete;
  temp_toml& operator=(const temp_toml&) = delete;
  ~temp_toml() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

load_result load(std::initializer_list<std::string> args) {
  std::vector<std::string> owned = {"switchboard"};
  owned.insert(owned.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& a : owned) {
    argv.push_back(a.c_str());
  }
  return load_config(static_cast<int>(argv.size()), argv.data());
}

class Config : public ::testing::Test {
 protected:
  Config() {
    // Whatever the developer's shell exports must not leak into these tests.
    for (const auto& e : config_table()) {
      clean_.push_back(std::make_unique<env_var>(env_name(e.key), nullptr));
    }
  }
  std::vector<std::unique_ptr<env_var>> clean_;
};

TEST(ConfigNames, FlagAndEnvForms) {
  EXPECT_EQ(flag_name("heartbeat_s"), "heartbeat-s");
  EXPECT_EQ(flag_name("listen"), "listen");
  EXPECT_EQ(env_name("heartbeat_s"), "SWITCHBOARD_HEARTBEAT_S");
  EXPECT_EQ(env_name("cors_origins"), "SWITCHBOARD_CORS_ORIGINS");
}

TEST(ConfigNames, TableKeysAreUniqueAndDocumented) {
  std::vector<std::string_view> seen;
  for (const auto& e : config_table()) {
    EXPECT_EQ(std::count(seen.begin(), seen.end(), e.key), 0) << e.key;
    seen.push_back(e.key);
    EXPECT_FALSE(e.help.empty()) << e.key;
    EXPECT_LE(e.min, e.max) << e.key;
  }
  EXPECT_GE(seen.size(), 19u);
}

TEST_F(Config, Defaults) {
  auto r = load({});
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.help, "");
  const auto& c = r.value;
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.threads, 0u);
  EXPECT_FALSE(c.dev);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.sse.heartbeat, std::chrono::seconds(15));
  EXPECT_EQ(c.sse.retry_ms, 2000u);
  EXPECT_EQ(c.messages.max_message_bytes, 65536u);
  EXPECT_EQ(c.http.max_request_bytes, 1048576u);
  EXPECT_EQ(c.http.max_header_bytes, 8192u);
  EXPECT_EQ(c.http.max_topics_per_stream, 64u);
  EXPECT_EQ(c.http.header_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(c.http.idle_timeout, std::chrono::seconds(60));
  EXPECT_EQ(c.history.max_messages, 1000u);
  EXPECT_EQ(c.history.max_bytes, 4194304u);
  EXPECT_EQ(c.history.max_age_ms, 3600000);
  EXPECT_EQ(c.subscribers.backlog.hard_bytes, 8388608u);
  EXPECT_EQ(c.subscribers.backlog.soft_bytes, 1048576u);
  EXPECT_EQ(c.subscribers.backlog.soft_for, std::chrono::seconds(10));
  EXPECT_EQ(c.ws.message_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(c.drain.timeout, std::chrono::seconds(10));
  EXPECT_EQ(c.drain.rate, 2000u);
  EXPECT_TRUE(c.cors.origins.empty());
}

TEST_F(Config, TomlFileSetsEveryKind) {
  temp_toml file(R"(
listen = "0.0.0.0:9000"
threads = 4
dev = true
log_level = "debug"
heartbeat_s = 20
history_max_bytes = 123456
cors_origins = ["https://a.example", "https://b.example"]
)");
  auto r = load({"--config", file.path()});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.value.listen, "0.0.0.0:9000");
  EXPECT_EQ(r.value.threads, 4u);
  EXPECT_TRUE(r.value.dev);
  EXPECT_EQ(r.value.log_level, "debug");
  EXPECT_EQ(r.value.sse.heartbeat, std::chrono::seconds(20));
  EXPECT_EQ(r.value.history.max_bytes, 123456u);
  EXPECT_EQ(r.value.cors.origins,
            (std::vector<std::string>{"https://a.example", "https://b.example"}));
  EXPECT_EQ(r.value.sse.retry_ms, 2000u);  // untouched keys keep their defaults
}

TEST_F(Config, EmptyTomlFileIsAllDefaults) {
  temp_toml file("# nothing\n");
  auto r = load({"--config", file.path()});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.value.sse.heartbeat, std::chrono::seconds(15));
}

TEST_F(Config, EnvironmentOverridesTheFile) {
  temp_toml file("heartbeat_s = 20\nlisten = \"file:1\"\ndev = true\n");
  env_var hb("SWITCHBOARD_HEARTBEAT_S", "30");
  env_var dev("SWITCHBOARD_DEV", "false");
  env_var cors("SWITCHBOARD_CORS_ORIGINS", " https://a.example ,https://b.example,, ");
  auto r = load({"--config", file.path()});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.value.sse.heartbeat, std::chrono::seconds(30));
  EXPECT_FALSE(r.value.dev);
  EXPECT_EQ(r.value.listen, "file:1");  // not in the environment: the file's value
  EXPECT_EQ(r.value.cors.origins,
            (std::vector<std::string>{"https://a.example", "https://b.example"}));
}

TEST_F(Config, FlagsOverrideTheEnvironment) {
  temp_toml file("heartbeat_s = 20\nretry_ms = 3000\n");
  env_var hb("SWITCHBOARD_HEARTBEAT_S", "30");
  env_var retry("SWITCHBOARD_RETRY_MS", "4000");
  env_var dev("SWITCHBOARD_DEV", "false");
  auto r = load({"--config", file.path(), "--heartbeat-s", "40", "--dev", "--listen=[::1]:7000"});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.value.sse.heartbeat, std::chrono::seconds(40));
  EXPECT_EQ(r.value.sse.retry_ms, 4000u);  // no flag: the environment's value
  EXPECT_TRUE(r.value.dev);
  EXPECT_EQ(r.value.listen, "[::1]:7000");
}

TEST_F(Config, BooleanFlagCanTurnOffWhatTheEnvironmentTurnedOn) {
  env_var dev("SWITCHBOARD_DEV", "true");
  auto r = load({"--dev=false"});
  EXPECT_EQ(r.error, "");
  EXPECT_FALSE(r.value.dev);
}

TEST_F(Config, BooleanSpellings) {
  for (const char* yes : {"true", "1", "yes", "on"}) {
    env_var dev("SWITCHBOARD_DEV", yes);
    auto r = load({});
    EXPECT_EQ(r.error, "") << yes;
    EXPECT_TRUE(r.value.dev) << yes;
  }
  for (const char* no : {"false", "0", "no", "off"}) {
    env_var dev("SWITCHBOARD_DEV", no);
    auto r = load({"--config", temp_toml("dev = true\n").path()});
    EXPECT_EQ(r.error, "") << no;
    EXPECT_FALSE(r.value.dev) << no;
  }
}

TEST_F(Config, NumbersAtTheirBoundsAreAccepted) {
  env_var hb("SWITCHBOARD_HEARTBEAT_S", "3600");
  env_var threads("SWITCHBOARD_THREADS", "64");
  env_var bytes("SWITCHBOARD_HISTORY_MAX_BYTES", "18446744073709551615");
  auto r = load({"--retry-ms", "100"});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.value.sse.heartbeat, std::chrono::seconds(3600));
  EXPECT_EQ(r.value.threads, 64u);
  EXPECT_EQ(r.value.history.max_bytes, 18446744073709551615u);
  EXPECT_EQ(r.value.sse.retry_ms, 100u);
}

TEST_F(Config, OutOfRangeInTheFileNamesKeySourceAndRange) {
  temp_toml file("heartbeat_s = 0\n");
  auto r = load({"--config", file.path()});
  EXPECT_THAT(r.error, HasSubstr("heartbeat_s"));
  EXPECT_THAT(r.error, HasSubstr(file.path()));
  EXPECT_THAT(r.error, HasSubstr("from 1 to 3600"));
}

TEST_F(Config, OutOfRangeInTheEnvironmentNamesTheVariable) {
  env_var threads("SWITCHBOARD_THREADS", "65");
  auto r = load({});
  EXPECT_THAT(r.error, HasSubstr("threads"));
  EXPECT_THAT(r.error, HasSubstr("\"65\""));
  EXPECT_THAT(r.error, HasSubstr("SWITCHBOARD_THREADS"));
  EXPECT_THAT(r.error, HasSubstr("from 0 to 64"));
}

TEST_F(Config, OutOfRangeFlagNamesTheFlag) {
  auto r = load({"--retry-ms", "99"});
  EXPECT_THAT(r.error, HasSubstr("retry_ms"));
  EXPECT_THAT(r.error, HasSubstr("--retry-ms"));
  EXPECT_THAT(r.error, HasSubstr("from 100 to 600000"));
}

TEST_F(Config, UnboundedMaximumIsSpelledOut) {
  env_var bytes("SWITCHBOARD_HISTORY_MAX_BYTES", "18446744073709551616");
  auto r = load({});
  EXPECT_THAT(r.error, HasSubstr("history_max_bytes"));
  EXPECT_THAT(r.error, HasSubstr("from 0 to any"));
}

TEST_F(Config, MalformedNumbersAreErrors) {
  for (const char* bad :
       {"", "abc", "-1", "+5", " 5", "5 ", "5x", "0x10", "1e3", "1.5", "99999999999999999999999"}) {
    env_var hb("SWITCHBOARD_HEARTBEAT_S", bad);
    auto r = load({});
    EXPECT_THAT(r.error, HasSubstr("heartbeat_s")) << '"' << bad << '"';
    EXPECT_THAT(r.error, HasSubstr("SWITCHBOARD_HEARTBEAT_S")) << '"' << bad << '"';
  }
}

TEST_F(Config, NegativeTomlNumberIsAnError) {
  temp_toml file("threads = -1\n");
  auto r = load({"--config", file.path()});
  EXPECT_THAT(r.error, HasSubstr("threads"));
  EXPECT_THAT(r.error, HasSubstr(file.path()));
}

TEST_F(Config, BadBooleanNamesKeyAndSource) {
  env_var dev("SWITCHBOARD_DEV", "maybe");
  auto r = load({});
  EXPECT_THAT(r.error, HasSubstr("dev"));
  EXPECT_THAT(r.error, HasSubstr("SWITCHBOARD_DEV"));
  EXPECT_THAT(r.error, HasSubstr("true or false"));
}

TEST_F(Config, TomlValuesOfAnImpossibleTypeAreErrors) {
  for (const char* text :
       {"heartbeat_s = 1.5\n", "threads = [1, 2]\n", "cors_origins = [\"a\", 1]\n",
        "listen = { host = \"x\" }\n", "retry_ms = 1979-05-27\n"}) {
    temp_toml file(text);
    auto r = load({"--config", file.path()});
    auto key = std::string(text).substr(0, std::string(text).find(' '));
    EXPECT_THAT(r.error, HasSubstr(key)) << text;
    EXPECT_THAT(r.error, HasSubstr(file.path())) << text;
    EXPECT_NE(r.error.find("wrong type"), std::string::npos) << text << " -> " << r.error;
  }
}

TEST_F(Config, TomlValuesOfTheWrongScalarTypeAreErrors) {
  // A typed table drives the file: a quoted number, a number where text is expected or a string
  // where a boolean is expected is a mistake in the file, not something to coerce silently.
  for (const char* text :
       {"heartbeat_s = \"20\"\n", "listen = 8080\n", "dev = \"true\"\n", "log_level = 3\n"}) {
    temp_toml file(text);
    auto r = load({"--config", file.path()});
    auto key = std::string(text).substr(0, std::string(text).find(' '));
    EXPECT_THAT(r.error, HasSubstr(key)) << text;
    EXPECT_THAT(r.error, HasSubstr(file.path())) << text;
  }
}

TEST_F(Config, UnknownTomlKeyNamesKeyAndFile) {
  temp_toml file("heartbeat_s = 20\nheartbeat = 5\n");
  auto r = load({"--config", file.path()});
  EXPECT_THAT(r.error, HasSubstr("unknown key \"heartbeat\""));
  EXPECT_THAT(r.error, HasSubstr(file.path()));
}

TEST_F(Config, TomlTablesAreUnknownKeys) {
  temp_toml file("[server]\nlisten = \"x:1\"\n");
  auto r = load({"--config", file.path()});
  EXPECT_THAT(r.error, HasSubstr("unknown key \"server\""));
}

TEST_F(Config, MalformedTomlNamesTheFile) {
  temp_toml file("heartbeat_s = = 3\n");
  auto r = load({"--config", file.path()});
  EXPECT_THAT(r.error, HasSubstr("config file " + file.path()));
}

TEST_F(Config, MissingFileNamesTheFile) {
  auto path =
      (std::filesystem::temp_directory_path() / "switchboard-config-test-does-not-exist.toml")
          .string();
  auto r = load({"--config", path});
  EXPECT_THAT(r.error, HasSubstr(path));
}

TEST_F(Config, UnknownFlagIsACommandLineError) {
  auto r = load({"--heartbeat", "5"});
  EXPECT_THAT(r.error, HasSubstr("command line"));
  EXPECT_THAT(r.error, HasSubstr("--help"));
}

TEST_F(Config, FlagWithoutValueIsACommandLineError) {
  auto r = load({"--heartbeat-s"});
  EXPECT_THAT(r.error, HasSubstr("command line"));
}

TEST_F(Config, BadLogLevelFromTheFileNamesKeyAndSource) {
  temp_toml file("log_level = \"verbose\"\n");
  auto r = load({"--config", file.path()});
  EXPECT_THAT(r.error, HasSubstr("log_level"));
  EXPECT_THAT(r.error, HasSubstr("verbose"));
  EXPECT_THAT(r.error, HasSubstr("trace, debug, info, warn, error"));
  EXPECT_THAT(r.error, HasSubstr(file.path()));
}

TEST_F(Config, BadLogLevelFromTheEnvironmentNamesTheVariable) {
  env_var level("SWITCHBOARD_LOG_LEVEL", "loud");
  auto r = load({});
  EXPECT_THAT(r.error, HasSubstr("log_level"));
  EXPECT_THAT(r.error, HasSubstr("loud"));
  EXPECT_THAT(r.error, HasSubstr("SWITCHBOARD_LOG_LEVEL"));
}

TEST_F(Config, BadLogLevelFromAFlagNamesTheFlag) {
  auto r = load({"--log-level", "INFO"});
  EXPECT_THAT(r.error, HasSubstr("log_level"));
  EXPECT_THAT(r.error, HasSubstr("--log-level"));
}

TEST_F(Config, EveryLogLevelIsAccepted) {
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    auto r = load({"--log-level", level});
    EXPECT_EQ(r.error, "") << level;
    EXPECT_EQ(r.value.log_level, level);
  }
}

TEST_F(Config, OptionalBooleansStartUnset) {
  auto r = load({});
  ASSERT_EQ(r.error, "");
  EXPECT_FALSE(r.value.auth.anonymous_subscribe.has_value());
  EXPECT_FALSE(r.value.auth.anonymous_publish.has_value());
  EXPECT_FALSE(r.value.auth.configured());
}

TEST_F(Config, OptionalBooleansFromEverySource) {
  temp_toml file("allow_anonymous_publish = false\n");
  env_var sub("SWITCHBOARD_ALLOW_ANONYMOUS_SUBSCRIBE", "yes");
  auto r = load({"--config", file.path()});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.value.auth.anonymous_publish, std::optional<bool>(false));  // set, and false
  EXPECT_EQ(r.value.auth.anonymous_subscribe, std::optional<bool>(true));

  auto bare = load({"--config", file.path(), "--allow-anonymous-publish"});
  ASSERT_EQ(bare.error, "");
  EXPECT_EQ(bare.value.auth.anonymous_publish, std::optional<bool>(true));

  auto explicit_false = load({"--allow-anonymous-subscribe=false"});
  ASSERT_EQ(explicit_false.error, "");
  EXPECT_EQ(explicit_false.value.auth.anonymous_subscribe, std::optional<bool>(false));

  env_var bad("SWITCHBOARD_ALLOW_ANONYMOUS_PUBLISH", "sometimes");
  auto err = load({});
  EXPECT_THAT(err.error, HasSubstr("allow_anonymous_publish"));
  EXPECT_THAT(err.error, HasSubstr("SWITCHBOARD_ALLOW_ANONYMOUS_PUBLISH"));
}

TEST_F(Config, AuthKeys) {
  temp_toml file("jwt_secret = \"file-secret\"\napi_keys = [\"k1\", \"k2\"]\n");
  auto r = load({"--config", file.path()});
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.value.auth.jwt_secret, "file-secret");
  EXPECT_EQ(r.value.auth.api_keys, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(r.value.auth.cookie, "switchboard_token");
  EXPECT_TRUE(r.value.auth.configured());
  env_var keys("SWITCHBOARD_API_KEYS", "k3,k4");
  auto env = load({"--config", file.path()});
  EXPECT_EQ(env.value.auth.api_keys, (std::vector<std::string>{"k3", "k4"}));
}

TEST_F(Config, SecretsAreNeverEchoed) {
  const std::string secret = "-s3cr3t-value";  // a secret may well start with a dash
  std::vector<load_result> results;
  results.push_back(load({"--jwt-secret", secret}));
  results.push_back(load({"--api-keys", secret}));
  results.push_back(load({"--jwt-secret", secret, "--jwt-secret", secret}));
  results.push_back(load({"--jwt-secret=" + secret, "--heartbeat-s", "0"}));
  {
    env_var s("SWITCHBOARD_JWT_SECRET", secret.c_str());
    results.push_back(load({"--help"}));
    results.push_back(load({"--threads", "999"}));
  }
  {
    temp_toml file("jwt_secret = \"" + secret + "\"\napi_keys = [\"" + secret + "\", 5]\n");
    results.push_back(load({"--config", file.path()}));
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].error.find("s3cr3t"), std::string::npos) << i << ": " << results[i].error;
    EXPECT_EQ(results[i].help.find("s3cr3t"), std::string::npos) << i;
  }
}

/// The help text with its wrapped lines joined again, to look for a whole description.
std::string unwrapped(std::string text) {
  for (auto at = text.find("\n      "); at != std::string::npos; at = text.find("\n      ", at)) {
    text.replace(at, 7, " ");
  }
  return text;
}

TEST_F(Config, HelpShowsNoDefaultForSecrets) {
  auto r = load({"--help"});
  r.help = unwrapped(r.help);
  EXPECT_THAT(r.help, HasSubstr("[env SWITCHBOARD_JWT_SECRET]"));
  EXPECT_THAT(r.help, HasSubstr("[env SWITCHBOARD_API_KEYS]"));
  EXPECT_THAT(r.help, HasSubstr("[env SWITCHBOARD_AUTH_COOKIE, default switchboard_token]"));
  EXPECT_THAT(r.help, HasSubstr("[env SWITCHBOARD_ALLOW_ANONYMOUS_PUBLISH, default unset]"));
}

TEST_F(Config, HelpListsEveryKey) {
  auto r = load({"--help"});
  r.help = unwrapped(r.help);
  EXPECT_EQ(r.error, "");
  ASSERT_FALSE(r.help.empty());
  EXPECT_THAT(r.help, HasSubstr("--config"));
  for (const auto& e : config_table()) {
    EXPECT_THAT(r.help, HasSubstr("--" + flag_name(e.key))) << e.key;
    EXPECT_THAT(r.help, HasSubstr(env_name(e.key))) << e.key;
    EXPECT_THAT(r.help, HasSubstr(std::string(e.help))) << e.key;
  }
  EXPECT_THAT(r.help, HasSubstr("default 15"));  // heartbeat_s
  EXPECT_THAT(r.help, HasSubstr("default 127.0.0.1:8080"));
}

TEST_F(Config, HelpIsTypedAndFitsHundredColumns) {
  auto r = load({"--help"});
  std::size_t start = 0;
  while (start < r.help.size()) {
    auto end = r.help.find('\n', start);
    auto line = r.help.substr(start, end - start);
    EXPECT_LE(line.size(), 100u) << line;
    start = end == std::string::npos ? r.help.size() : end + 1;
  }
  EXPECT_THAT(r.help, HasSubstr("\n  --max-message-bytes SIZE\n"));
  EXPECT_THAT(r.help, HasSubstr("\n  --heartbeat-s SECONDS\n"));
  EXPECT_THAT(r.help, HasSubstr("\n  --header-timeout-ms MILLISECONDS\n"));
  EXPECT_THAT(r.help, HasSubstr("\n  --threads N\n"));
  EXPECT_THAT(r.help, HasSubstr("\n  --listen HOST:PORT\n"));
  EXPECT_THAT(r.help, HasSubstr("\n  --dev, --no-dev\n"));
  EXPECT_THAT(r.help, HasSubstr("\n  --allow-anonymous-publish, --no-allow-anonymous-publish\n"));
  EXPECT_THAT(r.help, HasSubstr("\n  --log-level trace|debug|info|warn|error|off\n"));
  EXPECT_THAT(r.help, HasSubstr("\n  --cors-origins LIST\n"));
  EXPECT_THAT(r.help, Not(HasSubstr("TEXT")));
}

TEST_F(Config, NoFlagTurnsABooleanOff) {
  env_var dev("SWITCHBOARD_DEV", "true");
  auto r = load({"--no-dev", "--no-allow-anonymous-publish"});
  EXPECT_EQ(r.error, "");
  EXPECT_FALSE(r.value.dev);
  EXPECT_EQ(r.value.auth.anonymous_publish, std::optional<bool>(false));
  EXPECT_TRUE(load({"--dev"}).value.dev);
}

TEST_F(Config, SizesTakeBinarySuffixes) {
  EXPECT_EQ(load({"--max-message-bytes", "64K"}).value.messages.max_message_bytes, 64u << 10);
  EXPECT_EQ(load({"--max-message-bytes", "64KiB"}).value.messages.max_message_bytes, 64u << 10);
  EXPECT_EQ(load({"--max-request-bytes", "2M"}).value.http.max_request_bytes, 2u << 20);
  EXPECT_EQ(load({"--send-queue-max-bytes", "1GiB"}).value.subscribers.backlog.hard_bytes,
            1u << 30);
  EXPECT_EQ(load({"--config", temp_toml("max_message_bytes = \"8KiB\"\n").path()})
                .value.messages.max_message_bytes,
            8u << 10);
  EXPECT_THAT(load({"--max-message-bytes", "64X"}).error, HasSubstr("K, M or G"));
  EXPECT_THAT(load({"--max-message-bytes", "64Kb"}).error, HasSubstr("max_message_bytes"));
  EXPECT_THAT(load({"--max-request-bytes", "99999999999G"}).error, HasSubstr("max_request_bytes"));
  EXPECT_THAT(load({"--heartbeat-s", "15K"}).error, HasSubstr("heartbeat_s"));  // not a size
}

TEST_F(Config, VersionNamesTheRevision) {
  auto r = load({"--version"});
  EXPECT_EQ(r.error, "");
  EXPECT_THAT(r.help, ::testing::StartsWith("switchboard 0."));
  EXPECT_THAT(r.help, HasSubstr("(git "));
}

TEST_F(Config, ShortHelpFlag) {
  auto r = load({"-h"});
  EXPECT_EQ(r.error, "");
  EXPECT_THAT(r.help, HasSubstr("--heartbeat-s"));
}

TEST_F(Config, HelpDoesNotReadTheFile) {
  auto r = load({"--config", "/nonexistent/switchboard.toml", "--help"});
  EXPECT_EQ(r.error, "");
  EXPECT_FALSE(r.help.empty());
}

TEST_F(Config, MetricsAndJwtLifetimeSettings) {
  auto d = load({});
  EXPECT_EQ(d.error, "");
  EXPECT_FALSE(d.value.auth.jwt_require_exp.has_value());  // unset: on outside dev mode
  EXPECT_EQ(d.value.auth.jwt_leeway, std::chrono::seconds(60));
  EXPECT_EQ(d.value.metrics.token, "");
  EXPECT_EQ(d.value.metrics.listen, "");
  auto r = load({"--jwt-require-exp", "false", "--jwt-leeway-s", "0", "--metrics-token", "s3cret",
                 "--metrics-listen", "127.0.0.1:9090"});
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.value.auth.jwt_require_exp, false);
  EXPECT_EQ(r.value.auth.jwt_leeway, std::chrono::seconds(0));
  EXPECT_EQ(r.value.metrics.token, "s3cret");
  EXPECT_EQ(r.value.metrics.listen, "127.0.0.1:9090");
  auto bad = load({"--jwt-leeway-s", "3601"});
  EXPECT_THAT(bad.error, HasSubstr("jwt_leeway_s"));
  auto secret = load({"--metrics-token", "s3cret", "--jwt-leeway-s", "x"});
  EXPECT_THAT(secret.error, Not(HasSubstr("s3cret")));
}

// The table fills the layers' own structs, converting the key's unit into the field's.
TEST_F(Config, NestedFieldsFromFileEnvironmentAndFlags) {
  temp_toml file(
      "heartbeat_s = 20\nhistory_max_age_s = 5\nslow_consumer_policies = "
      "[\"metrics/**=latest\"]\n");
  env_var timeout("SWITCHBOARD_HEADER_TIMEOUT_MS", "1500");
  env_var rate("SWITCHBOARD_WS_PUBLISH_RATE", "50");
  auto r = load({"--config", file.path(), "--send-queue-soft-s", "7", "--h2-max-concurrent-streams",
                 "9", "--drain-timeout-s", "3", "--presence-tick-ms", "20", "--auth-cookie", "c"});
  ASSERT_EQ(r.error, "");
  const auto& c = r.value;
  EXPECT_EQ(c.sse.heartbeat, std::chrono::milliseconds(20000));
  EXPECT_EQ(c.history.max_age_ms, 5000);
  EXPECT_EQ(c.subscribers.policies.policy_for("metrics/cpu"), overflow_policy::latest);
  EXPECT_EQ(c.subscribers.policies.policy_for("chat"), overflow_policy::resume);
  EXPECT_EQ(c.http.header_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(c.ws.publish_rate, 50.0);
  EXPECT_EQ(c.subscribers.backlog.soft_for, std::chrono::milliseconds(7000));
  EXPECT_EQ(c.http.h2_max_concurrent_streams, 9u);
  EXPECT_EQ(c.drain.timeout, std::chrono::seconds(3));
  EXPECT_EQ(c.presence_tick, std::chrono::milliseconds(20));
  EXPECT_EQ(c.auth.cookie, "c");
  EXPECT_EQ(
      shown_value(c, *std::find_if(config_table().begin(), config_table().end(),
                                   [](const auto& e) { return e.key == "history_max_age_s"; })),
      "5");
}

TEST_F(Config, BoundsHoldForNestedFields) {
  EXPECT_THAT(load({"--presence-tick-ms", "9"}).error, HasSubstr("presence_tick_ms"));
  EXPECT_THAT(load({"--history-max-age-s", "0"}).error, HasSubstr("history_max_age_s"));
  EXPECT_THAT(load({"--h2-max-concurrent-streams", "100001"}).error,
              HasSubstr("h2_max_concurrent_streams"));
  EXPECT_THAT(load({"--ws-publish-burst", "0"}).error, HasSubstr("ws_publish_burst"));
  auto bad = load({"--slow-consumer-policies", "metrics/**=sometimes"});
  EXPECT_THAT(bad.error, HasSubstr("slow_consumer_policies"));
  EXPECT_THAT(bad.error, HasSubstr("PATTERN=resume|latest|drop"));
}

// Every entry's default, written back as text, reads back as the same value: the unit conversions
// of the table go both ways.
TEST_F(Config, EveryDefaultRoundTripsThroughItsText) {
  config defaults;
  for (const auto& e : config_table()) {
    auto text = shown_value(defaults, e);
    if (text == "unset" || text.empty()) {
      continue;
    }
    auto r = load({"--" + flag_name(e.key) + "=" + text});
    ASSERT_EQ(r.error, "") << e.key;
    EXPECT_EQ(shown_value(r.value, e), text) << e.key;
  }
}

// Derived values: computed by one function next to their struct, from what the table set.
TEST_F(Config, TheWebSocketFrameBoundFollowsTheMessageBound) {
  auto d = load({});
  EXPECT_EQ(ws::max_frame_bytes(d.value.messages), 2u * 65536 + 4096);
  EXPECT_EQ(ws::max_frame_bytes(message_limits{}), ws::max_frame_bytes(d.value.messages));
  auto r = load({"--max-message-bytes", "1K"});
  EXPECT_EQ(ws::max_frame_bytes(r.value.messages), 2u * 1024 + 4096);
}

TEST_F(Config, TheHighWaterMarkFollowsTheQueueBounds) {
  EXPECT_EQ(load({}).value.subscribers.high_water(), 64u << 10);
  EXPECT_EQ(load({"--send-queue-soft-bytes", "8K"}).value.subscribers.high_water(), 4u << 10);
  EXPECT_EQ(load({"--send-queue-max-bytes", "16K"}).value.subscribers.high_water(), 8u << 10);
}

TEST_F(Config, AnonymousAccessAndExpAreResolvedByDevMode) {
  auto dev = load({"--dev"}).value;
  auto open = dev.auth.resolved(dev.dev);
  EXPECT_EQ(open.anonymous_subscribe, true);
  EXPECT_EQ(open.anonymous_publish, true);
  EXPECT_EQ(open.jwt_require_exp, false);
  auto prod = load({}).value;
  auto closed = prod.auth.resolved(prod.dev);
  EXPECT_EQ(closed.anonymous_subscribe, false);
  EXPECT_EQ(closed.anonymous_publish, false);
  EXPECT_EQ(closed.jwt_require_exp, true);
  auto keyed = load({"--dev", "--api-keys", "k"}).value;
  EXPECT_EQ(keyed.auth.resolved(keyed.dev).anonymous_subscribe, false);
  auto allowed = load({"--allow-anonymous-subscribe", "--jwt-require-exp"}).value;
  EXPECT_EQ(allowed.auth.resolved(allowed.dev).anonymous_subscribe, true);
  EXPECT_EQ(allowed.auth.resolved(allowed.dev).anonymous_publish, false);
}

TEST_F(Config, CorsAllowsAnyOriginOnlyInDevModeWithNoneListed) {
  auto dev = load({"--dev"}).value;
  EXPECT_FALSE(dev.cors.policy(dev.dev).headers_for("https://x.example").empty());
  auto prod = load({}).value;
  EXPECT_TRUE(prod.cors.policy(prod.dev).headers_for("https://x.example").empty());
}

TEST_F(Config, DrainPacingSplitsTheRateOverTheLoops) {
  auto d = load({}).value;
  EXPECT_DOUBLE_EQ(d.drain.per_tick(1), 2000 * 0.05);
  EXPECT_DOUBLE_EQ(d.drain.per_tick(4), 2000 * 0.05 / 4);
  auto slow = load({"--drain-rate", "1"}).value;
  EXPECT_DOUBLE_EQ(slow.drain.per_tick(2), 0.025);  // below one a tick: fractions accumulate
}

TEST_F(Config, ConfigReferenceIsPrintedLikeHelp) {
  auto r = load({"--config-reference"});
  EXPECT_EQ(r.error, "");
  EXPECT_THAT(r.help, ::testing::StartsWith("# Configuration\n"));
  EXPECT_THAT(r.help, HasSubstr("| `heartbeat_s` | `15` |"));
}

}  // namespace
}  // namespace sb::server
