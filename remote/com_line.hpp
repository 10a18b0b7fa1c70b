// A serial line (tty or pseudo-terminal) carrying several sessions, one per
// channel 0..254. Bytes travel in envelopes:
//
//   0xA5 type:u8 channel:u8 length:u16le payload[length] sum:u8
//
// type 1 = open (a client starts a session on the channel), 2 = data,
// 3 = close; sum is the low byte of the sum of type..payload. A receiver
// resynchronises on the next 0xA5 after any bad envelope, so line noise costs
// at most the envelopes it touches (the session's frames then fail to decode
// and that session restarts, the line does not).
//
// A serial line has no hang-up a pseudo-terminal reports, so the sessions on
// it send keepalives and treat silence as a lost peer.
#pragma once
#include <deque>
#include <expected>
#include <map>
#include <memory>
#include <string>

#include "core/io/byte_stream.hpp"
#include "remote/frame.hpp"

namespace openkd::remote {

namespace asio = boost::asio;
using boost::system::error_code;

constexpr std::uint8_t com_envelope_magic = 0xA5;
constexpr std::size_t com_max_payload = 1024;
enum class ComEnvelopeType : std::uint8_t { open = 1, data = 2, close = 3 };

struct ComEnvelope {
  ComEnvelopeType type;
  std::uint8_t channel;
  Bytes payload;
};
Bytes encode_com_envelope(ComEnvelopeType type, std::uint8_t channel, ByteView payload);
/// Pops every complete envelope from the front of buf, skipping garbage.
std::vector<ComEnvelope> take_com_envelopes(Bytes& buf);

class ComChannelStream;

class ComLine : public std::enable_shared_from_this<ComLine> {
public:
  /// Opens (or, within this process, shares) the device in raw mode at baud.
  static std::expected<std::shared_ptr<ComLine>, std::string> open(asio::any_io_executor ex,
                                                                 const std::string& device,
                                                                 std::uint32_t baud);
  ~ComLine();
  /// Server: the next session a client opens on channel (EOF error when the line is closed).
  asio::awaitable<std::expected<std::unique_ptr<io::ByteStream>, error_code>> accept(std::uint8_t channel);
  /// Client: opens the channel and returns its stream.
  std::unique_ptr<io::ByteStream> connect(std::uint8_t channel);
  /// Stops accepting on channel (pending accept() ends).
  void stop_accepting(std::uint8_t channel);
  void close();

  // Used by channel streams.
  asio::awaitable<error_code> send(Bytes envelope);
  void detach(ComChannelStream* s);
  const std::string& device() const { return device_; }

private:
  ComLine(asio::posix::stream_descriptor fd, std::string device);
  void start_reader();
  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  void dispatch(ComEnvelope env);

  asio::posix::stream_descriptor fd_;
  std::string device_;
  std::map<std::uint8_t, ComChannelStream*> active_;
  std::map<std::uint8_t, std::deque<std::unique_ptr<ComChannelStream>>> pending_;
  std::map<std::uint8_t, std::shared_ptr<asio::steady_timer>> accept_signal_;
  std::deque<Bytes> out_;
  std::size_t out_bytes_ = 0;
  bool writing_ = false;
  bool closed_ = false;
  bool reader_started_ = false;
  asio::steady_timer drained_;
};

}  // namespace openkd::remote
