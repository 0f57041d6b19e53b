#include "common/result.h"

#include <cstring>

namespace tcpstate {

Error ErrnoError(int errnum, std::string what) {
  what += ": ";
  what += std::strerror(errnum);
  return Error{errnum, std::move(what)};
}

}  // namespace tcpstate
