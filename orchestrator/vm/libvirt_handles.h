#pragma once
// Move-only owners for libvirt's reference-counted objects (CONVENTIONS: one owner for every
// handle), shared by the libvirt backend and its storage. Each frees its object with the
// matching virXxxFree; a stream is aborted first if it is still open.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <memory>
#include <string>

namespace fb::lv {

struct ConnectFree {
  void operator()(virConnectPtr c) const { virConnectClose(c); }
};
struct DomainFree {
  void operator()(virDomainPtr d) const { virDomainFree(d); }
};
struct StreamFree {
  void operator()(virStreamPtr s) const {
    virStreamAbort(s);  // harmless on a finished stream; ends a half-done transfer cleanly
    virStreamFree(s);
  }
};
struct PoolFree {
  void operator()(virStoragePoolPtr p) const { virStoragePoolFree(p); }
};
struct VolFree {
  void operator()(virStorageVolPtr v) const { virStorageVolFree(v); }
};

using Connect = std::unique_ptr<virConnect, ConnectFree>;
using Domain = std::unique_ptr<virDomain, DomainFree>;
using Stream = std::unique_ptr<virStream, StreamFree>;
using Pool = std::unique_ptr<virStoragePool, PoolFree>;
using Vol = std::unique_ptr<virStorageVol, VolFree>;

// libvirt's message for the last error of this thread, without its "error: " noise; `what`
// says what faultbox was doing ("define domain faultbox-s1-123-1").
inline std::string last_error(const std::string& what) {
  const virError* e = virGetLastError();
  std::string msg = e && e->message ? e->message : "unknown libvirt error";
  return what + ": " + msg;
}

}  // namespace fb::lv
