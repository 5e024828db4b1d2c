#pragma once
// The data of a batch publish as the request wrote it. `POST /v1/publish` publishes a non-string
// `data` as that value's JSON text (docs/decisions.md); a DOM cannot give that text back, since
// it stores numbers as doubles or 64-bit integers (`1e400` would come back as a non-JSON
// infinity, a 23-digit integer without its last digits).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::http::api {

/// For a body `{"messages":[{…,"data":V},…]}`: element i holds the JSON text of message i's `data`
/// (the last one when a key repeats, as the DOM keeps), or nullopt when that message has none.
/// Numbers keep their exact source characters; whitespace outside strings is dropped and strings
/// are escaped as boost::json::serialize writes them. Empty when the body is not valid JSON.
std::vector<std::optional<std::string>> batch_data_texts(std::string_view body);

}  // namespace sb::http::api
