#include "ws/deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "ws/frame.hpp"

namespace sb::ws {
namespace {

constexpr int window_bits = 15;                            // raw deflate (negative below)
constexpr unsigned char sync_tail[] = {0, 0, 0xFF, 0xFF};  // RFC 7692 §7.2.1

}  // namespace

deflater::deflater(unsigned level) : z_(std::make_unique<z_stream>()) {
  // memLevel 8 (zlib's default): ~256 KiB per loop with a 32 KiB window.
  if (deflateInit2(z_.get(), static_cast<int>(level), Z_DEFLATED, -window_bits, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("zlib: deflateInit2 failed");
  }
}

deflater::~deflater() {
  deflateEnd(z_.get());
}

std::optional<std::string> deflater::compress_frame(std::string_view frame) {
  auto payload = frame.substr(payload_offset(frame));
  if (payload.empty()) {
    return std::nullopt;
  }
  // No context takeover: every message starts from an empty window.
  deflateReset(z_.get());
  // Z_SYNC_FLUSH adds an empty stored block (5 bytes) to what deflateBound allows for.
  scratch_.resize(deflateBound(z_.get(), payload.size()) + 16);
  z_->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(payload.data()));
  z_->avail_in = static_cast<uInt>(payload.size());
  z_->next_out = reinterpret_cast<Bytef*>(scratch_.data());
  z_->avail_out = static_cast<uInt>(scratch_.size());
  auto rc = ::deflate(z_.get(), Z_SYNC_FLUSH);
  if (rc != Z_OK || z_->avail_in != 0 || z_->avail_out == 0) {
    return std::nullopt;  // not expected with a bound-sized buffer: send it as it is
  }
  auto size = scratch_.size() - z_->avail_out;
  // The flush ends with 00 00 FF FF, which the receiver puts back (RFC 7692 §7.2.1).
  if (size < 4 || std::memcmp(scratch_.data() + size - 4, sync_tail, 4) != 0) {
    return std::nullopt;
  }
  size -= 4;
  // Header: the frame's own size class may shrink with the payload.
  std::string out;
  out.reserve(size + 10);
  append_frame_header(out, static_cast<opcode>(static_cast<std::uint8_t>(frame[0]) & 0x0F), size);
  if (out.size() + size >= frame.size()) {
    return std::nullopt;
  }
  out[0] = static_cast<char>(static_cast<std::uint8_t>(out[0]) | 0x40);  // RSV1: compressed
  out.append(scratch_.data(), size);
  return out;
}

inflater::inflater(std::size_t bound) : z_(std::make_unique<z_stream>()), bound_(bound) {
  // A 32 KiB window decodes what a client compressed with any smaller one.
  if (inflateInit2(z_.get(), -window_bits) != Z_OK) {
    throw std::runtime_error("zlib: inflateInit2 failed");
  }
}

inflater::~inflater() {
  inflateEnd(z_.get());
}

inflate_status inflater::inflate(std::string_view payload, inflate_window* window,
                                 unsigned client_window_bits) {
  if (!out_) {
    out_ = std::make_unique_for_overwrite<char[]>(bound_ + 1);
  }
  size_ = 0;
  auto* z = z_.get();
  inflateReset(z);
  if (window && !window->bytes.empty() &&
      inflateSetDictionary(z, reinterpret_cast<const Bytef*>(window->bytes.data()),
                           static_cast<uInt>(window->bytes.size())) != Z_OK) {
    return inflate_status::bad_data;
  }
  std::string_view pieces[] = {payload,
                               {reinterpret_cast<const char*>(sync_tail), sizeof sync_tail}};
  bool ended = false;
  for (std::size_t i = 0; i < 2 && !ended; ++i) {
    z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(pieces[i].data()));
    z->avail_in = static_cast<uInt>(pieces[i].size());
    // Until this piece is used up and inflate has nothing more to give (room left over).
    for (;;) {
      z->next_out = reinterpret_cast<Bytef*>(out_.get() + size_);
      z->avail_out = static_cast<uInt>(bound_ + 1 - size_);
      auto rc = ::inflate(z, Z_SYNC_FLUSH);
      size_ = bound_ + 1 - z->avail_out;
      if (size_ > bound_) {
        return inflate_status::too_big;
      }
      if (rc == Z_STREAM_END) {
        // A final block ended the stream: nothing but the tail we added may follow it.
        ended = true;
        if (i == 0 && z->avail_in > 0) {
          return inflate_status::bad_data;
        }
        break;
      }
      if (rc == Z_BUF_ERROR) {
        break;  // no progress possible: this piece is used up (there is room left)
      }
      if (rc != Z_OK) {
        return inflate_status::bad_data;  // Z_DATA_ERROR, Z_NEED_DICT, Z_MEM_ERROR
      }
      if (z->avail_in == 0 && z->avail_out > 0) {
        break;
      }
    }
  }
  if (window) {
    // Keep the last 2^bits bytes of everything this client sent: its next message may point
    // that far back, and no further.
    auto keep = std::size_t{1} << std::clamp(client_window_bits, 8u, 15u);
    auto out = text();
    if (out.size() >= keep) {
      window->bytes.assign(out.substr(out.size() - keep));
    } else {
      auto old = std::min(window->bytes.size(), keep - out.size());
      std::string next;
      next.reserve(old + out.size());
      next.append(window->bytes, window->bytes.size() - old, old);
      next.append(out);
      window->bytes = std::move(next);
    }
  }
  return inflate_status::ok;
}

}  // namespace sb::ws
