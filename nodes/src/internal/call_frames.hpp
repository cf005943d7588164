// Wire format of the call transport (call_transport.hpp): frames and handshake bodies.
//
// Every frame: a 13-byte header (body size u32, kind u8, id u64; big-endian), then the
// body. Handshake: hello (client) -> challenge (server proves the secret) -> auth (client
// proves it) -> accepted | refused. Then request / send (client) and reply (server).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace warden::internal {

enum class call_frame_kind : uint8_t {
  hello = 1,
  challenge = 2,
  auth = 3,
  accepted = 4,
  refused = 5,
  request = 6,  ///< id: request number; body: name, then the serialized message
  send = 7,     ///< id 0; body as request
  reply = 8,    ///< id: the request's number; body: the serialized answer
};

/// Bumped on any change of the frames below.
constexpr uint32_t call_protocol_version = 1;

constexpr size_t call_header_size = 13;

/// Largest handshake body (hello, challenge, auth, refused).
constexpr uint32_t call_handshake_max_body = 4096;

struct call_header {
  uint32_t body_size = 0;
  call_frame_kind kind = call_frame_kind::hello;
  uint64_t id = 0;
};

/// Appends a header; `body_size` may be patched later with `patch_body_size`.
void put_header(std::vector<char>& buf, call_frame_kind kind, uint64_t id,
                uint32_t body_size = 0);

/// Sets the body size of the frame whose header starts at `header_at`.
void patch_body_size(std::vector<char>& buf, size_t header_at);

/// Reads a header from `call_header_size` bytes; nullopt for an unknown kind.
std::optional<call_header> read_header(const char* bytes);

/// Appends a string with a u16 length (at most 65535 bytes).
void put_string(std::vector<char>& buf, std::string_view x);

/// Reads strings written by put_string.
class call_body_reader {
public:
  call_body_reader(const char* data, size_t size) : pos_(data), end_(data + size) {}
  /// The next string, or nullopt when the body ends early.
  std::optional<std::string> string();
  std::optional<uint64_t> u64();
  const char* rest() const { return pos_; }
  size_t rest_size() const { return static_cast<size_t>(end_ - pos_); }

private:
  const char* pos_;
  const char* end_;
};

void put_u64(std::vector<char>& buf, uint64_t x);

struct call_hello {
  uint64_t version = call_protocol_version;
  std::string cluster;
  std::string from;           ///< the client node's address (for logs)
  uint64_t to_incarnation = 0;  ///< the server incarnation the client means
  std::string nonce;
};

std::vector<char> encode(const call_hello& x);
std::optional<call_hello> decode_hello(const char* body, size_t size);

/// The proofs of both sides: HMAC over role, cluster and both nonces.
std::string server_proof(const std::string& secret, const std::string& cluster,
                         const std::string& client_nonce, const std::string& server_nonce);
std::string client_proof(const std::string& secret, const std::string& cluster,
                         const std::string& client_nonce, const std::string& server_nonce);

} // namespace warden::internal
