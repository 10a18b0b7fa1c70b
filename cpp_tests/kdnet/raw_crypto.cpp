#include "cpp_tests/kdnet/raw_crypto.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <memory>
#include <stdexcept>

namespace openkd::test {
namespace {

wire::Bytes aes_cbc(bool encrypt, const wire::kdnet::Key& key, const std::uint8_t* iv, wire::ByteView in) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  wire::Bytes out(in.size() + 16);
  int n = 0, m = 0;
  if (!ctx || !EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), iv, encrypt) ||
      !EVP_CIPHER_CTX_set_padding(ctx.get(), 0) ||
      !EVP_CipherUpdate(ctx.get(), out.data(), &n, in.data(), static_cast<int>(in.size())) ||
      !EVP_CipherFinal_ex(ctx.get(), out.data() + n, &m))
    throw std::runtime_error("test AES-256-CBC failed (plaintext not whole blocks?)");
  out.resize(static_cast<std::size_t>(n + m));
  return out;
}

}  // namespace

wire::Bytes seal_raw(std::uint8_t version, std::uint8_t channel, wire::ByteView plaintext,
                     const wire::kdnet::Key& enc, const wire::kdnet::Key& hmac) {
  wire::Bytes authenticated = {'M', 'D', 'B', 'G', version, channel};
  authenticated.insert(authenticated.end(), plaintext.begin(), plaintext.end());
  std::uint8_t mac[32];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), hmac.data(), static_cast<int>(hmac.size()), authenticated.data(), authenticated.size(), mac,
       &mac_len);
  wire::Bytes out(authenticated.begin(), authenticated.begin() + 6);
  const auto ciphertext = aes_cbc(true, enc, mac, plaintext);
  out.insert(out.end(), ciphertext.begin(), ciphertext.end());
  out.insert(out.end(), mac, mac + 16);
  return out;
}

wire::Bytes open_raw(wire::ByteView datagram, const wire::kdnet::Key& enc) {
  if (datagram.size() < 6 + 16) throw std::runtime_error("open_raw: datagram too short");
  const auto* tag = datagram.data() + datagram.size() - 16;
  return aes_cbc(false, enc, tag, datagram.subspan(6, datagram.size() - 22));
}

}  // namespace openkd::test
