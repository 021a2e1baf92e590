#pragma once
// A T that costs one pointer until something is written to it, for the
// fields most records leave empty: a roster of 100 participants held seven
// empty strings each (~200 bytes a participant, issue 7). Copies are deep;
// reading one that was never written sees a default T. In msgpack it is nil
// until written.

#include <memory>

#include <msgpack.hpp>

namespace imserver::session {

template <class T>
class OnDemand {
 public:
  OnDemand() = default;
  OnDemand(const OnDemand& other) : value_(clone(other)) {}
  OnDemand(OnDemand&&) noexcept = default;
  OnDemand& operator=(const OnDemand& other) {
    if (this != &other) value_ = clone(other);
    return *this;
  }
  OnDemand& operator=(OnDemand&&) noexcept = default;

  const T& get() const {
    static const T unset{};
    return value_ ? *value_ : unset;
  }
  T& set() {
    if (!value_) value_ = std::make_unique<T>();
    return *value_;
  }
  bool is_set() const { return value_ != nullptr; }
  void reset() { value_.reset(); }

 private:
  static std::unique_ptr<T> clone(const OnDemand& other) {
    return other.value_ ? std::make_unique<T>(*other.value_) : nullptr;
  }
  std::unique_ptr<T> value_;
};

}  // namespace imserver::session

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
namespace adaptor {

template <class T>
struct convert<imserver::session::OnDemand<T>> {
  const msgpack::object& operator()(const msgpack::object& o, imserver::session::OnDemand<T>& v) const {
    if (o.is_nil())
      v.reset();
    else
      o.convert(v.set());
    return o;
  }
};

template <class T>
struct pack<imserver::session::OnDemand<T>> {
  template <typename Stream>
  msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& o, const imserver::session::OnDemand<T>& v) const {
    if (v.is_set())
      o.pack(v.get());
    else
      o.pack_nil();
    return o;
  }
};

template <class T>
struct object_with_zone<imserver::session::OnDemand<T>> {
  void operator()(msgpack::object::with_zone& o, const imserver::session::OnDemand<T>& v) const {
    if (v.is_set())
      msgpack::adaptor::object_with_zone<T>()(o, v.get());
    else
      o.type = msgpack::type::NIL;
  }
};

}  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS)
}  // namespace msgpack
