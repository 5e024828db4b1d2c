#include "core/topic_pattern.hpp"

#include "core/topic_name.hpp"

namespace sb {
namespace {

std::string_view next_segment(std::string_view& rest) {
  auto slash = rest.find('/');
  auto segment = rest.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  return segment;
}

}  // namespace

bool topic_matches(std::string_view pattern, std::string_view topic) noexcept {
  if (topic.empty()) {
    return false;
  }
  for (;;) {
    bool pattern_done = pattern.empty();
    bool topic_done = topic.empty();
    if (pattern_done || topic_done) {
      return pattern_done && topic_done;
    }
    auto p = next_segment(pattern);
    if (p == "**") {
      return pattern.empty();  // matches one or more remaining segments (topic is non-empty here)
    }
    auto t = next_segment(topic);
    if (p != "*" && p != t) {
      return false;
    }
    if (pattern.empty() != topic.empty()) {
      return false;
    }
  }
}

bool is_valid_topic_pattern(std::string_view pattern) noexcept {
  if (pattern.empty() || pattern.size() > max_topic_bytes) {
    return false;
  }
  for (std::size_t start = 0;;) {
    auto slash = pattern.find('/', start);
    bool last = slash == std::string_view::npos;
    auto segment = pattern.substr(start, last ? std::string_view::npos : slash - start);
    if (segment.empty() || (segment == "**" && !last)) {
      return false;
    }
    if (segment != "*" && segment != "**") {
      for (char c : segment) {
        if (c == '/' || !is_topic_char(c)) {
          return false;
        }
      }
    }
    if (last) {
      return true;
    }
    start = slash + 1;
  }
}

std::optional<policy_table> policy_table::parse(const std::vector<std::string>& items,
                                                std::string& error) {
  std::vector<std::pair<std::string, overflow_policy>> rules;
  for (const auto& item : items) {
    auto eq = item.find('=');
    auto policy = eq == std::string::npos
                      ? std::nullopt
                      : parse_overflow_policy(std::string_view(item).substr(eq + 1));
    auto pattern = item.substr(0, eq == std::string::npos ? 0 : eq);
    if (!policy || !is_valid_topic_pattern(pattern)) {
      error = "\"" + item + "\": expected PATTERN=resume|latest|drop, e.g. \"metrics/**=latest\"";
      return std::nullopt;
    }
    rules.emplace_back(std::move(pattern), *policy);
  }
  policy_table table(std::move(rules));
  table.items_ = items;
  return table;
}

overflow_policy policy_table::policy_for(std::string_view topic) const {
  for (const auto& [pattern, policy] : rules_) {
    if (topic_matches(pattern, topic)) {
      return policy;
    }
  }
  return overflow_policy::resume;
}

}  // namespace sb
