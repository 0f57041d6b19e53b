#include "common/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

namespace tcpstate {

std::string GzipCompress(std::string_view data, int level) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(std::min<size_t>(out.size(), UINT_MAX));
  // zlib counts in uInt: feed larger inputs in pieces.
  int rc = Z_OK;
  size_t offset = 0;
  while (rc == Z_OK) {
    const size_t piece = std::min<size_t>(data.size() - offset, UINT_MAX);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + offset));
    z.avail_in = static_cast<uInt>(piece);
    offset += piece;
    rc = deflate(&z, offset == data.size() ? Z_FINISH : Z_NO_FLUSH);
  }
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : std::string();
}

}  // namespace tcpstate
