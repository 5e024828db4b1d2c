// One run's results: ordered keys with numbers or strings, written as a JSON object (one key per
// line, so shell tools can read it too) and summarised on one line by the workload.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace bench {

class run_result {
 public:
  void str(const std::string& k, const std::string& v) { items_.emplace_back(k, v); }
  void num(const std::string& k, double v) { items_.emplace_back(k, v); }
  // Writes the JSON object; false when the file cannot be written.
  bool write(const std::string& path) const;
  std::string json() const;

 private:
  std::vector<std::pair<std::string, std::variant<std::string, double>>> items_;
};

}  // namespace bench
