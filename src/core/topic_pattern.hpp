#pragma once
// Topic patterns, as token claims and per-topic settings use them: segments separated by `/`,
// `*` matches exactly one segment, `**` (last segment only) matches one or more remaining ones.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/feed.hpp"

namespace sb {

/// True when `topic` matches `pattern`.
bool topic_matches(std::string_view pattern, std::string_view topic) noexcept;

/// True when `pattern` is well formed: topic characters, `*` and `**` only as whole segments,
/// `**` only last.
bool is_valid_topic_pattern(std::string_view pattern) noexcept;

/// The slow-consumer policy of each topic: the first matching pattern wins, `resume` otherwise.
class policy_table {
 public:
  policy_table() = default;
  explicit policy_table(std::vector<std::pair<std::string, overflow_policy>> rules)
      : rules_(std::move(rules)) {}

  /// Parses "pattern=policy" items (as the config gives them); an error message on a bad item.
  static std::optional<policy_table> parse(const std::vector<std::string>& items,
                                           std::string& error);

  overflow_policy policy_for(std::string_view topic) const;

  /// The items this table was parsed from (empty for a table built from rules), for --help.
  const std::vector<std::string>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, overflow_policy>> rules_;
  std::vector<std::string> items_;
};

}  // namespace sb
