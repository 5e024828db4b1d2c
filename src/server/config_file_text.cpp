#include "server/config_file_text.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sb::server {
namespace {

constexpr std::size_t width = 100;

/// Appends `text` as "# " comment lines of at most `width` columns.
void comment(std::string& out, std::string_view text) {
  std::string line = "#";
  std::size_t start = 0;
  while (start < text.size()) {
    auto space = text.find(' ', start);
    auto word = text.substr(
        start, space == std::string_view::npos ? std::string_view::npos : space - start);
    start = space == std::string_view::npos ? text.size() : space + 1;
    if (line.size() > 1 && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line = "#";
    }
    line += ' ';
    line += word;
  }
  out += line + "\n";
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char hex[] = "0123456789ABCDEF";
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

/// 65536 -> "64KiB" (sizes also take a string with a binary suffix, and read better so).
std::string size_value(std::uint64_t n) {
  for (auto [shift, unit] : {std::pair{30, "GiB"}, {20, "MiB"}, {10, "KiB"}}) {
    if (n != 0 && n % (1ull << shift) == 0) {
      return quoted(std::to_string(n >> shift) + unit);
    }
  }
  return std::to_string(n);
}

/// The TOML value of `entry` in `c`, from its config text (shown_value: numbers in the key's
/// unit); an unset optional boolean is written as `false`, with the entry's help text saying what
/// unset means.
std::string toml_value(const config& c, const config_entry& entry) {
  auto shown = shown_value(c, entry);
  return std::visit(
      [&](auto slot) -> std::string {
        using T = std::remove_cvref_t<decltype(slot(std::declval<config&>()))>;
        if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::optional<bool>>) {
          return shown == "true" ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return quoted(shown);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>> ||
                             std::is_same_v<T, policy_table>) {
          std::string out = "[";
          std::size_t start = 0;
          while (start < shown.size()) {
            auto comma = shown.find(',', start);
            auto item = shown.substr(start, comma == std::string::npos ? comma : comma - start);
            out += (out.size() > 1 ? ", " : "") + quoted(item);
            start = comma == std::string::npos ? shown.size() : comma + 1;
          }
          return out + "]";
        } else {
          return value_name(entry) == "SIZE" ? size_value(std::stoull(shown)) : shown;
        }
      },
      entry.field);
}

bool is_unset(const config& c, const config_entry& entry) {
  return std::holds_alternative<config_entry::slot<std::optional<bool>>>(entry.field) &&
         shown_value(c, entry) == "unset";
}

}  // namespace

std::string config_file_text(const config& c) {
  const config defaults;
  // No version in the text: a packaged conffile should change only when a setting does.
  std::string out =
      "# Every Switchboard setting; a commented-out line shows the default.\n"
      "# Written by `switchboard --print-config`; `switchboard --help` describes the same.\n";
  for (const auto& e : config_table()) {
    out += "\n";
    bool live = !e.secret && shown_value(c, e) != shown_value(defaults, e);
    auto help = std::string(e.help);
    if (live) {
      // What the line changes, so a reader of the file sees the built-in default as well.
      help += " [default " + (is_unset(defaults, e) ? "unset" : toml_value(defaults, e)) + "]";
    }
    comment(out, help);
    auto value =
        e.secret ? (value_name(e) == "LIST" ? "[]" : "\"\"") : toml_value(live ? c : defaults, e);
    out += std::string(live ? "" : "# ") + std::string(e.key) + " = " + value + "\n";
  }
  return out;
}

}  // namespace sb::server
