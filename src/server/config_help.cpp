#include "server/config_help.hpp"

#include <string>
#include <utility>

#include "server/version.hpp"

namespace sb::server {
namespace {

constexpr std::size_t width = 100;
constexpr std::string_view indent = "      ";

/// Appends `text` to `out` as lines of at most `width` columns, each starting with `indent`.
void wrap(std::string& out, std::string_view text) {
  std::string line(indent);
  std::size_t start = 0;
  while (start < text.size()) {
    auto space = text.find(' ', start);
    auto word = text.substr(
        start, space == std::string_view::npos ? std::string_view::npos : space - start);
    start = space == std::string_view::npos ? text.size() : space + 1;
    if (line.size() > indent.size() && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line = indent;
    }
    if (line.size() > indent.size()) {
      line += ' ';
    }
    line += word;
  }
  out += line + "\n";
}

/// 65536 -> "64KiB": sizes read as people write them.
std::string size_text(std::string bytes) {
  auto n = std::stoull(bytes);
  for (auto [shift, unit] : {std::pair{30, "GiB"}, {20, "MiB"}, {10, "KiB"}}) {
    if (n != 0 && n % (1ull << shift) == 0) {
      return std::to_string(n >> shift) + unit;
    }
  }
  return bytes;
}

}  // namespace

std::string help_text(const config& defaults) {
  std::string out =
      "Switchboard: a realtime hub (SSE and WebSocket on one topic model)\n"
      "\n"
      "Usage: switchboard [OPTIONS]\n"
      "\n"
      "Every option is also a key of the TOML file given by --config and an environment variable;\n"
      "later sources win: defaults < file < environment < flags. A SIZE is in bytes, or with K, M "
      "or G\n"
      "(KiB, MiB, GiB). Booleans are plain flags, turned off with --no-….\n"
      "\n"
      "  -h, --help\n";
  wrap(out, "print this help and exit");
  out += "  --version\n";
  wrap(out, "print the version and git revision and exit");
  out += "  --print-config\n";
  wrap(out,
       "print every setting as a TOML file for --config (those set by the other options, the "
       "file or the environment as live lines, the rest commented out with their defaults; "
       "secrets never) and exit");
  out += "  --config FILE\n";
  wrap(out, "TOML file with any of the keys below");
  for (const auto& e : config_table()) {
    auto flag = "--" + flag_name(e.key);
    out += "  " + flag;
    if (is_boolean(e)) {
      out += ", --no-" + flag_name(e.key);
    } else {
      out += " " + value_name(e);
    }
    out += "\n";
    auto shown = shown_value(defaults, e);
    if (value_name(e) == "SIZE") {
      shown = size_text(shown);
    }
    auto details = std::string(e.help) + " [env " + env_name(e.key) +
                   (e.secret ? std::string("]") : ", default " + shown + "]");
    wrap(out, details);
  }
  return out;
}

std::string version_text() {
  return "switchboard " + std::string(version) + " (git " + std::string(git_revision) + ")\n";
}

}  // namespace sb::server
