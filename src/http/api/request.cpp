#include "http/api/request.hpp"

namespace sb::http::api {

std::optional<std::string> request::query(std::string_view key) const {
  auto params = url.params();
  auto it = params.find(key);
  if (it == params.end()) {
    return std::nullopt;
  }
  return std::string((*it).value);
}

bool request::query_flag(std::string_view key) const {
  auto v = query(key);
  return v && (*v == "1" || *v == "true");
}

}  // namespace sb::http::api
