#include "internal/call_frames.hpp"

#include "internal/node_protocol.hpp"

namespace warden::internal {

namespace {

void put_be(std::vector<char>& buf, uint64_t x, int bytes) {
  for (int i = bytes - 1; i >= 0; --i)
    buf.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
}

uint64_t get_be(const char* p, int bytes) {
  uint64_t x = 0;
  for (int i = 0; i < bytes; ++i)
    x = (x << 8) | static_cast<uint8_t>(p[i]);
  return x;
}

} // namespace

void put_header(std::vector<char>& buf, call_frame_kind kind, uint64_t id, uint32_t body_size) {
  put_be(buf, body_size, 4);
  buf.push_back(static_cast<char>(kind));
  put_be(buf, id, 8);
}

void patch_body_size(std::vector<char>& buf, size_t header_at) {
  auto size = static_cast<uint32_t>(buf.size() - header_at - call_header_size);
  for (int i = 0; i < 4; ++i)
    buf[header_at + i] = static_cast<char>((size >> (8 * (3 - i))) & 0xff);
}

std::optional<call_header> read_header(const char* bytes) {
  auto kind = static_cast<uint8_t>(bytes[4]);
  if (kind < static_cast<uint8_t>(call_frame_kind::hello)
      || kind > static_cast<uint8_t>(call_frame_kind::reply))
    return std::nullopt;
  return call_header{static_cast<uint32_t>(get_be(bytes, 4)),
                     static_cast<call_frame_kind>(kind), get_be(bytes + 5, 8)};
}

void put_string(std::vector<char>& buf, std::string_view x) {
  auto size = std::min<size_t>(x.size(), 0xffff);
  put_be(buf, size, 2);
  buf.insert(buf.end(), x.data(), x.data() + size);
}

void put_u64(std::vector<char>& buf, uint64_t x) {
  put_be(buf, x, 8);
}

std::optional<std::string> call_body_reader::string() {
  if (rest_size() < 2)
    return std::nullopt;
  auto size = static_cast<size_t>(get_be(pos_, 2));
  if (rest_size() < 2 + size)
    return std::nullopt;
  std::string result{pos_ + 2, size};
  pos_ += 2 + size;
  return result;
}

std::optional<uint64_t> call_body_reader::u64() {
  if (rest_size() < 8)
    return std::nullopt;
  auto x = get_be(pos_, 8);
  pos_ += 8;
  return x;
}

std::vector<char> encode(const call_hello& x) {
  std::vector<char> body;
  put_u64(body, x.version);
  put_string(body, x.cluster);
  put_string(body, x.from);
  put_u64(body, x.to_incarnation);
  put_string(body, x.nonce);
  return body;
}

std::optional<call_hello> decode_hello(const char* body, size_t size) {
  call_body_reader in{body, size};
  auto version = in.u64();
  auto cluster = in.string();
  auto from = in.string();
  auto to = in.u64();
  auto nonce = in.string();
  if (!version || !cluster || !from || !to || !nonce || in.rest_size() != 0)
    return std::nullopt;
  return call_hello{*version, std::move(*cluster), std::move(*from), *to, std::move(*nonce)};
}

std::string server_proof(const std::string& secret, const std::string& cluster,
                         const std::string& client_nonce, const std::string& server_nonce) {
  return prove(secret, "warden-call-server\n" + cluster + '\n' + client_nonce + '\n'
                         + server_nonce);
}

std::string client_proof(const std::string& secret, const std::string& cluster,
                         const std::string& client_nonce, const std::string& server_nonce) {
  return prove(secret, "warden-call-client\n" + cluster + '\n' + client_nonce + '\n'
                         + server_nonce);
}

} // namespace warden::internal
