#pragma once
// The files of web/ and the API documents of docs/, compiled into the binary (see
// cmake/embed_web.cmake).
#include <string_view>

namespace sb::server {

std::string_view demo_html();
std::string_view client_js();
std::string_view client_types();
/// docs/openapi.json and docs/asyncapi.yaml, and their strong ETags (a quoted SHA-256 prefix).
std::string_view openapi_json();
std::string_view openapi_etag();
std::string_view asyncapi_yaml();
std::string_view asyncapi_etag();
std::string_view admin_html();  // GET /admin

}  // namespace sb::server
