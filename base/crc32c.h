// base/crc32c.h — CRC-32C (Castagnoli, RFC 3720 appendix B.4: reflected polynomial 0x82F63B78,
// initial value and final XOR 0xFFFFFFFF), the checksum of the query log's frames
// (policy/querylog/log_file.h). Chosen over zlib's CRC-32 for its instruction: x86-64 CPUs since
// 2008 (SSE4.2) and ARMv8 compute it 8 bytes at a time, ~10x zlib's table on a 60-byte frame,
// and the writer thread checksums every logged query. Same text in every language's libraries
// (iSCSI, ext4, SCTP use it).
//
// Thread safety: pure functions; the hardware path is chosen once, on first use.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sekisho::base {

// The CRC-32C of n bytes (the instruction when the CPU has it, else a table).
uint32_t crc32c(const void* data, size_t n) noexcept;
// The table alone: the tests compare both paths.
uint32_t crc32c_portable(const void* data, size_t n) noexcept;

}  // namespace sekisho::base
