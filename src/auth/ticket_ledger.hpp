#pragma once
// Where subscribe tickets live when every node must honour them (broker = redis): a store of
// opaque records, each put once with a lifetime and taken at most once, atomically, whichever
// node asks. The auth layer owns this interface and the record format; an implementation only
// keeps bytes (cluster/ticket_ledger.hpp keeps them in Redis; server/app.cpp wires it).
#include <chrono>
#include <functional>
#include <string>

#include "core/errc.hpp"

namespace sb::auth {

class ticket_ledger {
 public:
  /// errc::ok once the record is stored; errc::unavailable when it may not be (the ledger cannot
  /// be reached, or did not answer in time).
  using put_handler = std::function<void(errc)>;
  /// errc::ok with the record, taken: no other call ever gets it. errc::not_found when there is no
  /// such record (never put, taken already, or expired). errc::unavailable when the ledger cannot
  /// tell: the record may still be there, or may have been taken by this very call.
  using take_handler = std::function<void(errc, std::string record)>;

  virtual ~ticket_ledger() = default;

  /// Stores `record` under `digest` (the 32 raw bytes of a ticket's SHA-256) for `ttl`.
  /// Any thread; `done` runs later, on the event loop of the calling thread (or on the ledger's
  /// own thread when called off the loops), never inside this call.
  virtual void put(std::string digest, std::string record, std::chrono::milliseconds ttl,
                   put_handler done) = 0;
  /// Takes the record under `digest`. Threads and `done` as put().
  virtual void take(std::string digest, take_handler done) = 0;
};

}  // namespace sb::auth
