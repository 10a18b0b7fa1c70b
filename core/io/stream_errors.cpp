// The error category of io::StreamErrc (byte_stream.hpp).
#include "core/io/byte_stream.hpp"

namespace openkd::io {
namespace {
class StreamCategory final : public boost::system::error_category {
public:
  const char* name() const noexcept override { return "openkd.stream"; }
  std::string message(int ev) const override {
    return ev == static_cast<int>(StreamErrc::new_session) ? "the peer started a new session" : "unknown stream error";
  }
};
}  // namespace

const boost::system::error_category& stream_category() {
  static const StreamCategory category;
  return category;
}

}  // namespace openkd::io
