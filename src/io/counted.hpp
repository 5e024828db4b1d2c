#pragma once
// Shared ownership with the counts in the object's own allocation and nothing in the object: what
// std::make_shared plus enable_shared_from_this does, in 8 bytes instead of 32 (make_shared's
// control block and the weak_ptr enable_shared_from_this keeps in the object). Made for
// io::connection, of which an idle server holds tens of thousands. Hand-written because
// boost::intrusive_ptr, the library's counted pointer, has no weak handle, and the HTTP session
// needs one for broker answers that arrive after its connection is gone.
//
// A counted_ptr owns; a counted_weak observes and can be locked into a counted_ptr while an
// owner remains. The object is destroyed with its last counted_ptr, its memory freed with the
// last handle of either kind. The object is told nothing: it finds its counts from `this`
// (counted_from), so only objects made by make_counted may be given to counted_from.
//
// The counts are atomic, as std::shared_ptr's are: a handle may be dropped on another thread (a
// broker thread destroying a callback that captured one). Locking and dereferencing stay on the
// object's own thread.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <utility>

namespace sb::io {

template <class T>
class counted_ptr;
template <class T>
class counted_weak;

namespace detail {

struct counts {
  std::atomic<std::uint32_t> strong{1};
  std::atomic<std::uint32_t> weak{1};  // the owners together hold one
};

/// The object follows its counts, at its own alignment.
template <class T>
constexpr std::size_t object_offset = (sizeof(counts) + alignof(T) - 1) / alignof(T) * alignof(T);

template <class T>
counts* counts_of(T* object) {
  return reinterpret_cast<counts*>(reinterpret_cast<unsigned char*>(object) - object_offset<T>);
}

/// Another handle on `object` (null stays null): the copies of both handle kinds.
template <class T>
T* add_strong(T* object) {
  if (object) {
    counts_of(object)->strong.fetch_add(1, std::memory_order_relaxed);
  }
  return object;
}
template <class T>
T* add_weak(T* object) {
  if (object) {
    counts_of(object)->weak.fetch_add(1, std::memory_order_relaxed);
  }
  return object;
}

inline void release_weak(counts* c) {
  if (c->weak.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    c->~counts();
    ::operator delete(static_cast<void*>(c));
  }
}

template <class T>
void release_strong(T* object) {
  auto* c = counts_of(object);
  if (c->strong.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    object->~T();
    release_weak(c);
  }
}

}  // namespace detail

/// Owns a T made by make_counted (or nothing).
template <class T>
class counted_ptr {
 public:
  counted_ptr() = default;
  counted_ptr(std::nullptr_t) {}
  counted_ptr(const counted_ptr& o) : p_(detail::add_strong(o.p_)) {}
  counted_ptr(counted_ptr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  counted_ptr& operator=(counted_ptr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~counted_ptr() { reset(); }

  void reset() {
    if (auto* p = std::exchange(p_, nullptr)) {
      detail::release_strong(p);
    }
  }
  /// Gives up this ownership without ending it: the count stays taken until adopt() takes it
  /// back. For an object that owns itself (a started io::connection) without a pointer to itself.
  T* release() { return std::exchange(p_, nullptr); }
  /// Takes over a count given up by release().
  static counted_ptr adopt(T* p) { return counted_ptr(p); }

  T* get() const { return p_; }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  template <class U>
  friend class counted_weak;
  template <class U, class... Args>
  friend counted_ptr<U> make_counted(Args&&... args);
  template <class U>
  friend counted_ptr<U> counted_from(U& object);

  /// Takes over one strong count already taken for `p`.
  explicit counted_ptr(T* p) : p_(p) {}

  T* p_ = nullptr;
};

/// Observes a T made by make_counted: keeps its memory, not the object.
template <class T>
class counted_weak {
 public:
  counted_weak() = default;
  explicit counted_weak(const counted_ptr<T>& owner) : p_(detail::add_weak(owner.p_)) {}
  counted_weak(const counted_weak& o) : p_(detail::add_weak(o.p_)) {}
  counted_weak(counted_weak&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  counted_weak& operator=(counted_weak o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~counted_weak() {
    if (p_) {
      detail::release_weak(detail::counts_of(p_));
    }
  }

  /// An owner of the object, or null once it has been destroyed.
  counted_ptr<T> lock() const {
    if (!p_) {
      return {};
    }
    auto& strong = detail::counts_of(p_)->strong;
    auto n = strong.load(std::memory_order_relaxed);
    while (n != 0) {
      if (strong.compare_exchange_weak(n, n + 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return counted_ptr<T>(p_);
      }
    }
    return {};
  }
  bool expired() const { return !p_ || detail::counts_of(p_)->strong.load() == 0; }

 private:
  T* p_ = nullptr;
};

/// Makes a T owned by the returned pointer, its counts in the same allocation.
template <class T, class... Args>
counted_ptr<T> make_counted(Args&&... args) {
  void* memory = ::operator new(detail::object_offset<T> + sizeof(T));
  auto* c = new (memory) detail::counts;
  try {
    auto* object = new (static_cast<unsigned char*>(memory) + detail::object_offset<T>)
        T(std::forward<Args>(args)...);
    return counted_ptr<T>(object);
  } catch (...) {
    c->~counts();
    ::operator delete(memory);
    throw;
  }
}

/// Another owner of `object`, which make_counted made and which is still owned (as
/// shared_from_this: an object being destroyed has no owner left to share).
template <class T>
counted_ptr<T> counted_from(T& object) {
  if (detail::counts_of(&object)->strong.fetch_add(1, std::memory_order_relaxed) == 0) {
    std::terminate();  // revived during its destruction: would be destroyed twice
  }
  return counted_ptr<T>(&object);
}

/// An observer of `object` (made by make_counted).
template <class T>
counted_weak<T> counted_weak_from(T& object) {
  return counted_weak<T>(counted_from(object));
}

}  // namespace sb::io
