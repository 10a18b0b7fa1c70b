// KDNET datagram codec and handshake payloads (docs/protocol.md section 6).
#include "core/wire/kdnet.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <memory>

namespace openkd::wire::kdnet {
namespace {

std::unexpected<DecodeError> fail(std::string message) {
  return std::unexpected(DecodeError{std::move(message)});
}

// ---- key strings -------------------------------------------------------------

int base36_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return -1;
}

bool is_printable(char c) { return c >= 0x20 && c < 0x7F; }

std::string hex_byte(char c, const char* prefix) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%s%02x", prefix, static_cast<unsigned char>(c));
  return buf;
}

/// A character for an error message: 'x', or 0x0a when it is not printable.
std::string printable(char c) { return is_printable(c) ? std::string("'") + c + "'" : hex_byte(c, "0x"); }

/// The key string for an error message, kept on one line (\xNN for the unprintable).
std::string escaped(std::string_view text) {
  std::string out;
  for (char c : text) out += is_printable(c) && c != '"' && c != '\\' ? std::string(1, c) : hex_byte(c, "\\x");
  return out;
}

// ---- crypto (OpenSSL EVP; nothing hand-written) --------------------------------

using Tag = std::array<std::uint8_t, kTagSize>;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};

/// AES-256-CBC over whole blocks, no padding: `in` and `out` are the same length.
bool aes_cbc(bool encrypt, const Key& key, const Tag& iv, ByteView in, std::uint8_t* out) {
  if (in.size() > static_cast<std::size_t>(INT_MAX)) return false;  // EVP takes an int length
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return false;
  if (EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), iv.data(), encrypt ? 1 : 0) != 1)
    return false;
  EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
  int written = 0, final_written = 0;
  if (EVP_CipherUpdate(ctx.get(), out, &written, in.data(), static_cast<int>(in.size())) != 1) return false;
  if (EVP_CipherFinal_ex(ctx.get(), out + written, &final_written) != 1) return false;
  return static_cast<std::size_t>(written + final_written) == in.size();
}

/// First 16 bytes of HMAC-SHA256(key, header || plaintext); `authenticated` is both, contiguous.
bool compute_tag(const Key& hmac_key, ByteView authenticated, Tag& tag) {
  std::uint8_t full[EVP_MAX_MD_SIZE];
  unsigned int full_len = 0;
  if (!HMAC(EVP_sha256(), hmac_key.data(), static_cast<int>(hmac_key.size()), authenticated.data(),
            authenticated.size(), full, &full_len) ||
      full_len < kTagSize)
    return false;
  std::copy_n(full, kTagSize, tag.begin());
  return true;
}

void write_header(Bytes& out, std::uint8_t version, std::uint8_t channel) {
  Writer(out).bytes(kMagic).u8(version).u8(channel);
}

void write_address(Writer& w, const PokeAddress& a) {
  w.bytes(a.address);
  w.u8(static_cast<std::uint8_t>(a.port >> 8)).u8(static_cast<std::uint8_t>(a.port));  // big-endian
}

PokeAddress read_address(Reader& r) {
  PokeAddress a;
  const ByteView address = r.bytes(a.address.size());
  if (!address.empty()) std::copy(address.begin(), address.end(), a.address.begin());
  const ByteView port = r.bytes(2);
  if (!port.empty()) a.port = static_cast<std::uint16_t>(port[0] << 8 | port[1]);
  return a;
}

}  // namespace

// ---- keys ----------------------------------------------------------------------

std::expected<Key, DecodeError> parse_key(std::string_view text) {
  const std::string quoted = "KDNET key \"" + escaped(text) + "\": ";
  // Characters first, so "1,2,3,4" names the ',' rather than the part count.
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '.' && base36_digit(text[i]) < 0)
      return fail(quoted + printable(text[i]) + " at position " + std::to_string(i + 1) +
                  " is not a base-36 digit (0-9, a-z) or '.'");
  }
  const auto parts = 1 + std::count(text.begin(), text.end(), '.');
  if (parts != 4)
    return fail(quoted + "expected 4 parts (w.x.y.z), found " + std::to_string(parts));

  Key key{};
  std::size_t start = 0;
  for (std::size_t part = 0; part < 4; ++part) {
    const std::size_t end = std::min(text.find('.', start), text.size());
    const std::string_view digits = text.substr(start, end - start);
    if (digits.empty()) return fail(quoted + "part " + std::to_string(part + 1) + " is empty");
    std::uint64_t value = 0;
    for (char c : digits) {
      const auto d = static_cast<std::uint64_t>(base36_digit(c));
      if (value > (UINT64_MAX - d) / 36)
        return fail(quoted + "part " + std::to_string(part + 1) + " \"" + std::string(digits) +
                    "\" is above 2^64-1");
      value = value * 36 + d;
    }
    for (std::size_t b = 0; b < 8; ++b) key[8 * part + b] = static_cast<std::uint8_t>(value >> (8 * b));
    start = end + 1;
  }
  return key;
}

std::string format_key(const Key& root) {
  std::string text;
  for (std::size_t part = 0; part < 4; ++part) {
    std::uint64_t value = 0;
    for (std::size_t b = 0; b < 8; ++b) value |= std::uint64_t{root[8 * part + b]} << (8 * b);
    std::string digits;
    do {
      digits.push_back("0123456789abcdefghijklmnopqrstuvwxyz"[value % 36]);
      value /= 36;
    } while (value != 0);
    if (part != 0) text.push_back('.');
    text.append(digits.rbegin(), digits.rend());
  }
  return text;
}

bool random_bytes(std::uint8_t* out, std::size_t size) {
  return size <= static_cast<std::size_t>(INT_MAX) && RAND_bytes(out, static_cast<int>(size)) == 1;
}

std::optional<Key> random_key() {
  Key k{};
  if (!random_bytes(k.data(), k.size())) return std::nullopt;
  return k;
}

Key hmac_key_of(const Key& root) {
  Key inverted;
  std::transform(root.begin(), root.end(), inverted.begin(),
                 [](std::uint8_t b) { return static_cast<std::uint8_t>(~b); });
  return inverted;
}

Key derive_data_key(const Key& root, ByteView response_payload) {
  Key digest{};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned int len = 0;
  // SHA-256 with valid arguments only fails on allocation failure; then there is no
  // key to give, and a zero key makes every later datagram fail authentication.
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), root.data(), root.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), response_payload.data(), response_payload.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest.data(), &len) != 1 || len != digest.size())
    return Key{};
  return digest;
}

Keys Keys::from_root(const Key& root) { return Keys{root, hmac_key_of(root), std::nullopt}; }

std::expected<Keys, DecodeError> Keys::from_string(std::string_view text) {
  auto root = parse_key(text);  // g++ 12's std::expected has no transform()
  if (!root) return std::unexpected(root.error());
  return from_root(*root);
}

void Keys::set_data_key_from_response(ByteView response_payload) {
  data = derive_data_key(root, response_payload);
}

const Key* Keys::encryption_key(Channel channel) const {
  if (channel == Channel::Control) return &root;
  return data ? &*data : nullptr;
}

// ---- datagrams -------------------------------------------------------------------

std::expected<Header, DecodeError> peek_header(ByteView datagram) {
  Reader r(datagram);
  const ByteView magic = r.bytes(kMagic.size());
  Header h;
  h.version = r.u8();
  h.channel = r.u8();
  if (!r.ok())
    return fail("KDNET datagram: " + std::to_string(datagram.size()) + " bytes, shorter than its 6-byte header");
  if (!std::equal(magic.begin(), magic.end(), kMagic.begin())) return fail("KDNET datagram: magic is not \"MDBG\"");
  if (h.channel > static_cast<std::uint8_t>(Channel::Control))
    return fail("KDNET datagram: unknown channel " + std::to_string(h.channel));
  return h;
}

std::expected<Bytes, DecodeError> encode(const Datagram& d, const Keys& keys) {
  if (d.seq > kMaxSeq) return fail("KDNET encode: sequence number " + std::to_string(d.seq) + " is over 56 bits");
  const Key* key = keys.encryption_key(d.channel);
  if (!key) return fail("KDNET encode: data channel datagram before the data key is known");

  // Padding brings header + payload to whole AES blocks, so it is 0..15 and fits bits 0..6.
  const std::size_t unpadded = kPlaintextHeaderSize + d.payload.size();
  const std::size_t padding = (kBlockSize - unpadded % kBlockSize) % kBlockSize;

  // header || plaintext, contiguous: the tag covers both, the cipher only the plaintext.
  Bytes sealed;
  sealed.reserve(kHeaderSize + unpadded + padding + kTagSize);
  write_header(sealed, d.version, static_cast<std::uint8_t>(d.channel));
  for (int shift = 48; shift >= 0; shift -= 8) sealed.push_back(static_cast<std::uint8_t>(d.seq >> shift));
  sealed.push_back(static_cast<std::uint8_t>((d.from_debugger ? kFromDebuggerBit : 0) | padding));
  Writer(sealed).bytes(d.payload).zeros(padding);

  Tag tag;
  if (!compute_tag(keys.hmac, sealed, tag)) return fail("KDNET encode: HMAC-SHA256 failed");
  const ByteView plaintext = ByteView(sealed).subspan(kHeaderSize);
  Bytes out(sealed.begin(), sealed.begin() + kHeaderSize);
  out.resize(sealed.size());
  if (!aes_cbc(true, *key, tag, plaintext, out.data() + kHeaderSize)) {
    OPENSSL_cleanse(sealed.data(), sealed.size());
    return fail("KDNET encode: AES-256-CBC failed");
  }
  OPENSSL_cleanse(sealed.data(), sealed.size());
  Writer(out).bytes(tag);
  return out;
}

std::expected<Datagram, OpenError> open(ByteView datagram, const Keys& keys) {
  auto failed = [](OpenFailure kind, std::string message) {
    return std::unexpected(OpenError{kind, std::move(message)});
  };
  auto header = peek_header(datagram);
  if (!header) return failed(OpenFailure::NotKdnet, header.error().message);
  if (datagram.size() < kMinDatagramSize)
    return failed(OpenFailure::NotKdnet, "KDNET datagram: " + std::to_string(datagram.size()) + " bytes, below the minimum of " +
                std::to_string(kMinDatagramSize) + " (header, one block, tag)");
  const std::size_t cipher_len = datagram.size() - kHeaderSize - kTagSize;
  if (cipher_len % kBlockSize != 0)
    return failed(OpenFailure::NotKdnet, "KDNET datagram: ciphertext of " + std::to_string(cipher_len) + " bytes is not a multiple of 16");
  const auto channel = static_cast<Channel>(header->channel);
  const Key* key = keys.encryption_key(channel);
  if (!key) return failed(OpenFailure::NoKey, "KDNET datagram: data channel datagram before the data key is known");

  const ByteView ciphertext = datagram.subspan(kHeaderSize, cipher_len);
  Tag tag;
  std::copy_n(datagram.end() - kTagSize, kTagSize, tag.begin());

  // header || plaintext, as the sender MACed it.
  Bytes opened(datagram.begin(), datagram.begin() + kHeaderSize);
  opened.resize(kHeaderSize + cipher_len);
  Tag expected;
  const bool decrypted = aes_cbc(false, *key, tag, ciphertext, opened.data() + kHeaderSize);
  const bool tagged = decrypted && compute_tag(keys.hmac, opened, expected);
  if (!tagged || CRYPTO_memcmp(expected.data(), tag.data(), kTagSize) != 0) {
    OPENSSL_cleanse(opened.data(), opened.size());
    return failed(OpenFailure::Unauthentic, decrypted && tagged ? "KDNET datagram: tag mismatch (wrong key or altered datagram)"
                                    : "KDNET datagram: OpenSSL failed to decrypt or authenticate");
  }

  // Authenticated from here on: the fields below are what the sender wrote.
  Reader r(ByteView(opened).subspan(kHeaderSize));
  Datagram d;
  d.version = header->version;
  d.channel = channel;
  const ByteView seq = r.bytes(7);
  for (std::uint8_t b : seq) d.seq = d.seq << 8 | b;
  const std::uint8_t flags = r.u8();
  d.from_debugger = (flags & kFromDebuggerBit) != 0;
  const std::size_t padding = flags & kPaddingMask;
  // A sender pads to the next block only, so more than 15 bytes is not padding.
  // The padding bytes' values are not checked: they are authenticated, and a
  // sender that does not zero them loses nothing we read.
  if (padding >= kBlockSize || padding > r.remaining()) {
    OPENSSL_cleanse(opened.data(), opened.size());
    return failed(OpenFailure::Malformed, "KDNET datagram: padding length " + std::to_string(padding) + " is inconsistent with " +
                std::to_string(cipher_len) + " bytes of plaintext");
  }
  const ByteView payload = r.bytes(r.remaining() - padding);
  d.payload.assign(payload.begin(), payload.end());
  OPENSSL_cleanse(opened.data(), opened.size());
  return d;
}

std::expected<Datagram, DecodeError> decode(ByteView datagram, const Keys& keys) {
  auto d = open(datagram, keys);
  if (!d) return std::unexpected(DecodeError{std::move(d.error().message)});
  return std::move(*d);
}

// ---- control channel -------------------------------------------------------------

PokeAddress PokeAddress::from_ipv4(std::uint32_t ipv4, std::uint16_t port) {
  PokeAddress a;
  a.address[10] = 0xFF;  // ::ffff:a.b.c.d (RFC 4291 IPv4-mapped)
  a.address[11] = 0xFF;
  for (std::size_t i = 0; i < 4; ++i) a.address[12 + i] = static_cast<std::uint8_t>(ipv4 >> (24 - 8 * i));
  a.port = port;
  return a;
}

std::optional<std::uint32_t> PokeAddress::ipv4() const {
  if (!std::all_of(address.begin(), address.begin() + 10, [](std::uint8_t b) { return b == 0; }) ||
      address[10] != 0xFF || address[11] != 0xFF)
    return std::nullopt;
  std::uint32_t v = 0;
  for (std::size_t i = 12; i < 16; ++i) v = v << 8 | address[i];
  return v;
}

Bytes build_poke(const Poke& poke) {
  Bytes out;
  Writer w(out);
  w.u8(kHandshakeTag).u8(kPokeKind).bytes(poke.target_random);
  write_address(w, poke.target);
  write_address(w, poke.host);
  // The list ends with an IPv4-mapped 0.0.0.0, port 0 (::ffff:0.0.0.0, as Windows sends it).
  write_address(w, PokeAddress::from_ipv4(0, 0));
  w.pad_to(kPokeSize);
  return out;
}

std::expected<Poke, DecodeError> parse_poke(ByteView payload) {
  constexpr std::size_t kMinimum = 2 + kRandomSize + 2 * kAddressEntrySize;
  if (payload.size() < kMinimum)
    return fail("KDNET POKE: " + std::to_string(payload.size()) + " bytes, need at least " +
                std::to_string(kMinimum));
  Reader r(payload);
  const std::uint8_t tag = r.u8(), kind = r.u8();
  if (tag != kHandshakeTag || kind != kPokeKind) return fail("KDNET POKE: payload does not start with 01 01");
  Poke poke;
  const ByteView random = r.bytes(kRandomSize);
  std::copy(random.begin(), random.end(), poke.target_random.begin());
  poke.target = read_address(r);
  poke.host = read_address(r);
  return poke;
}

Bytes build_response(const Response& response) {
  Bytes out;
  Writer(out)
      .u8(kHandshakeTag)
      .u8(kResponseKind)
      .bytes(response.target_random)
      .bytes(response.debugger_random)
      .pad_to(kResponseSize);
  return out;
}

std::expected<Response, DecodeError> parse_response(ByteView payload) {
  if (payload.size() != kResponseSize)
    return fail("KDNET RESPONSE: " + std::to_string(payload.size()) + " bytes, expected " +
                std::to_string(kResponseSize));
  Reader r(payload);
  const std::uint8_t tag = r.u8(), kind = r.u8();
  if (tag != kHandshakeTag || kind != kResponseKind)
    return fail("KDNET RESPONSE: payload does not start with 01 02");
  Response response;
  const ByteView target = r.bytes(kRandomSize);
  std::copy(target.begin(), target.end(), response.target_random.begin());
  const ByteView debugger = r.bytes(kRandomSize);
  std::copy(debugger.begin(), debugger.end(), response.debugger_random.begin());
  return response;
}

// ---- data channel ----------------------------------------------------------------

Bytes build_pseudo_packet(std::uint32_t host_ipv4) {
  Bytes out;
  Writer(out).u32(0).u16(0).u16(0).u32(host_ipv4);  // leader, type, length: all 0
  return out;
}

std::expected<std::uint32_t, DecodeError> parse_pseudo_packet(ByteView payload) {
  if (payload.size() != kPseudoPacketSize)
    return fail("KDNET pseudo packet: " + std::to_string(payload.size()) + " bytes, expected 12");
  Reader r(payload);
  const std::uint32_t leader = r.u32();
  const std::uint16_t type = r.u16(), length = r.u16();
  if (leader != 0 || type != 0 || length != 0)
    return fail("KDNET pseudo packet: leader, type and length must be 0");
  return r.u32();
}

}  // namespace openkd::wire::kdnet
