// Test-side KDNET sealing from a raw plaintext, written directly on OpenSSL EVP and
// independent of kdnet.cpp's layout code: crafts datagrams the codec never makes
// (bad padding lengths, non-zero padding) and opens vectors without authenticating.
#pragma once
#include <cstdint>

#include "core/wire/kdnet.hpp"

namespace openkd::test {

/// "MDBG" | version | channel | AES-256-CBC(enc, IV = tag, plaintext) | tag, where
/// tag = HMAC-SHA256(hmac, header || plaintext)[0..16). `plaintext` must be whole blocks.
wire::Bytes seal_raw(std::uint8_t version, std::uint8_t channel, wire::ByteView plaintext,
                     const wire::kdnet::Key& enc, const wire::kdnet::Key& hmac);
/// Decrypts a datagram's ciphertext with IV = its tag; no authentication.
wire::Bytes open_raw(wire::ByteView datagram, const wire::kdnet::Key& enc);

}  // namespace openkd::test
