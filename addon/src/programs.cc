// Program operations: BPF_PROG_TEST_RUN and attachment to tc, XDP and cgroups.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/pkt_cls.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "common.h"

static int64_t OptInt(v8::Local<v8::Object> o, const char *k, int64_t def) {
  v8::Local<v8::Value> v = Nan::Get(o, Nan::New(k).ToLocalChecked()).ToLocalChecked();
  return v->IsNumber() ? static_cast<int64_t>(Nan::To<double>(v).FromJust()) : def;
}

// progTestRun(fd, data, { repeat?, ctxIn?: Buffer, dataOutSize? })
//   -> { retval, data: Buffer, duration }
static NAN_METHOD(ProgTestRun) {
  int64_t fd;
  const char *data;
  size_t dlen;
  if (!IntArg(info, 0, &fd) || !BufferArg(info, 1, &data, &dlen)) return;
  int64_t repeat = 1, outSize = static_cast<int64_t>(dlen) + 256;
  const char *ctxIn = nullptr;
  size_t ctxLen = 0;
  if (info.Length() > 2 && info[2]->IsObject()) {
    v8::Local<v8::Object> o = info[2].As<v8::Object>();
    repeat = OptInt(o, "repeat", 1);
    outSize = OptInt(o, "dataOutSize", outSize);
    v8::Local<v8::Value> c = Nan::Get(o, Nan::New("ctxIn").ToLocalChecked()).ToLocalChecked();
    if (node::Buffer::HasInstance(c)) {
      ctxIn = node::Buffer::Data(c);
      ctxLen = node::Buffer::Length(c);
    }
  }
  if (outSize < 0 || outSize > (1 << 24)) return Nan::ThrowRangeError("dataOutSize out of range");
  // The kernel copies min(result, data_size_out) bytes: the buffer is sized to match.
  // Never smaller than the input either: older kernels (and valgrind's model of the
  // syscall) assume data_out can hold data_size_in bytes.
  std::vector<char> out(static_cast<size_t>(outSize) > dlen ? static_cast<size_t>(outSize) : (dlen ? dlen : 1));
  std::vector<char> ctxOut(ctxLen ? ctxLen : 1);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = data;
  opts.data_size_in = static_cast<uint32_t>(dlen);
  opts.data_out = out.data();
  opts.data_size_out = static_cast<uint32_t>(outSize);
  opts.repeat = static_cast<int>(repeat);
  if (ctxIn) {
    opts.ctx_in = ctxIn;
    opts.ctx_size_in = static_cast<uint32_t>(ctxLen);
    opts.ctx_out = ctxOut.data();
    opts.ctx_size_out = static_cast<uint32_t>(ctxLen);
  }
  // With repeat > 1 the kernel gives up with EINTR when a signal is pending (a child
  // exiting is enough); the run has no side effects worth keeping, so run it again.
  int rc;
  for (int attempt = 0;; attempt++) {
    opts.data_size_out = static_cast<uint32_t>(outSize);
    if (ctxIn) opts.ctx_size_out = static_cast<uint32_t>(ctxLen);
    rc = bpf_prog_test_run_opts(fd, &opts);
    if (rc == 0 || errno != EINTR || attempt >= 100) break;
  }
  if (rc) {
    // ENOSPC: output larger than dataOutSize; data_size_out then holds the full size.
    return ThrowErrno(errno, "bpf_prog_test_run_opts");
  }
  uint32_t got = opts.data_size_out < out.size() ? opts.data_size_out : out.size();
  v8::Local<v8::Object> r = Nan::New<v8::Object>();
  Nan::Set(r, Nan::New("retval").ToLocalChecked(), Nan::New(opts.retval));
  Nan::Set(r, Nan::New("data").ToLocalChecked(), Nan::CopyBuffer(out.data(), got).ToLocalChecked());
  Nan::Set(r, Nan::New("duration").ToLocalChecked(), Nan::New(opts.duration));
  if (ctxIn)
    Nan::Set(r, Nan::New("ctxOut").ToLocalChecked(), Nan::CopyBuffer(ctxOut.data(), ctxLen).ToLocalChecked());
  info.GetReturnValue().Set(r);
}

static bool TcPoint(const Nan::FunctionCallbackInfo<v8::Value> &info, int i, bpf_tc_attach_point *ap) {
  std::string s;
  if (!StringArg(info, i, &s)) return false;
  if (s == "ingress") *ap = BPF_TC_INGRESS;
  else if (s == "egress") *ap = BPF_TC_EGRESS;
  else {
    Nan::ThrowRangeError("attach point must be 'ingress' or 'egress'");
    return false;
  }
  return true;
}

// tcAttach(ifindex, 'ingress'|'egress', progFd, { handle?, priority?, replace? })
//   -> { handle, priority, progId }
// Creates the clsact qdisc when missing.
static NAN_METHOD(TcAttach) {
  int64_t ifindex, progFd;
  bpf_tc_attach_point ap;
  if (!IntArg(info, 0, &ifindex) || !TcPoint(info, 1, &ap) || !IntArg(info, 2, &progFd)) return;
  int64_t handle = 1, priority = 1, replace = 1;
  if (info.Length() > 3 && info[3]->IsObject()) {
    v8::Local<v8::Object> o = info[3].As<v8::Object>();
    handle = OptInt(o, "handle", 1);
    priority = OptInt(o, "priority", 1);
    v8::Local<v8::Value> rv = Nan::Get(o, Nan::New("replace").ToLocalChecked()).ToLocalChecked();
    if (rv->IsBoolean()) replace = Nan::To<bool>(rv).FromJust() ? 1 : 0;
  }
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex), .attach_point = ap);
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) return ThrowErrno(-err, "bpf_tc_hook_create");
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = static_cast<int>(progFd), .flags = replace ? static_cast<uint32_t>(BPF_TC_F_REPLACE) : 0u,
              .handle = static_cast<uint32_t>(handle), .priority = static_cast<uint32_t>(priority));
  err = bpf_tc_attach(&hook, &opts);
  if (err) return ThrowErrno(-err, "bpf_tc_attach");
  v8::Local<v8::Object> r = Nan::New<v8::Object>();
  Nan::Set(r, Nan::New("handle").ToLocalChecked(), Nan::New(opts.handle));
  Nan::Set(r, Nan::New("priority").ToLocalChecked(), Nan::New(opts.priority));
  Nan::Set(r, Nan::New("progId").ToLocalChecked(), Nan::New(opts.prog_id));
  info.GetReturnValue().Set(r);
}

// tcDetach(ifindex, 'ingress'|'egress', handle, priority) -> boolean (false if absent)
static NAN_METHOD(TcDetach) {
  int64_t ifindex, handle, priority;
  bpf_tc_attach_point ap;
  if (!IntArg(info, 0, &ifindex) || !TcPoint(info, 1, &ap) || !IntArg(info, 2, &handle) ||
      !IntArg(info, 3, &priority))
    return;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex), .attach_point = ap);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = static_cast<uint32_t>(handle), .priority = static_cast<uint32_t>(priority));
  int err = bpf_tc_detach(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) {
    // EINVAL: no clsact qdisc on the device any more; nothing to detach either way.
    return info.GetReturnValue().Set(false);
  }
  if (err) return ThrowErrno(-err, "bpf_tc_detach");
  info.GetReturnValue().Set(true);
}

// tcQuery(ifindex, 'ingress'|'egress', handle, priority) -> progId | null
static NAN_METHOD(TcQuery) {
  int64_t ifindex, handle, priority;
  bpf_tc_attach_point ap;
  if (!IntArg(info, 0, &ifindex) || !TcPoint(info, 1, &ap) || !IntArg(info, 2, &handle) ||
      !IntArg(info, 3, &priority))
    return;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex), .attach_point = ap);
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = static_cast<uint32_t>(handle), .priority = static_cast<uint32_t>(priority));
  int err = bpf_tc_query(&hook, &opts);
  if (err == -ENOENT || err == -EINVAL) return info.GetReturnValue().SetNull();
  if (err) return ThrowErrno(-err, "bpf_tc_query");
  info.GetReturnValue().Set(opts.prog_id);
}

// tcHookDestroy(ifindex): removes the clsact qdisc (both directions) if present.
static NAN_METHOD(TcHookDestroy) {
  int64_t ifindex;
  if (!IntArg(info, 0, &ifindex)) return;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = static_cast<int>(ifindex),
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_destroy(&hook);
  if (err && err != -ENOENT && err != -EINVAL) return ThrowErrno(-err, "bpf_tc_hook_destroy");
}

// xdpAttach(ifindex, progFd, flags = 0)
static NAN_METHOD(XdpAttach) {
  int64_t ifindex, progFd, flags = 0;
  if (!IntArg(info, 0, &ifindex) || !IntArg(info, 1, &progFd)) return;
  if (info.Length() > 2 && !info[2]->IsUndefined() && !IntArg(info, 2, &flags)) return;
  int err = bpf_xdp_attach(static_cast<int>(ifindex), static_cast<int>(progFd), static_cast<uint32_t>(flags), nullptr);
  if (err) return ThrowErrno(-err, "bpf_xdp_attach");
}

// xdpDetach(ifindex, flags = 0)
static NAN_METHOD(XdpDetach) {
  int64_t ifindex, flags = 0;
  if (!IntArg(info, 0, &ifindex)) return;
  if (info.Length() > 1 && !info[1]->IsUndefined() && !IntArg(info, 1, &flags)) return;
  int err = bpf_xdp_detach(static_cast<int>(ifindex), static_cast<uint32_t>(flags), nullptr);
  if (err) return ThrowErrno(-err, "bpf_xdp_detach");
}

// xdpQuery(ifindex, flags = 0) -> progId (0 when none)
static NAN_METHOD(XdpQuery) {
  int64_t ifindex, flags = 0;
  if (!IntArg(info, 0, &ifindex)) return;
  if (info.Length() > 1 && !info[1]->IsUndefined() && !IntArg(info, 1, &flags)) return;
  uint32_t id = 0;
  int err = bpf_xdp_query_id(static_cast<int>(ifindex), static_cast<int>(flags), &id);
  if (err) return ThrowErrno(-err, "bpf_xdp_query_id");
  info.GetReturnValue().Set(id);
}

static int OpenCgroup(const std::string &path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowErrno(errno, "open", path);
  return fd;
}

// cgroupAttach(cgroupPath, progFd, attachType, flags = 0)
static NAN_METHOD(CgroupAttach) {
  std::string path;
  int64_t progFd, type, flags = 0;
  if (!StringArg(info, 0, &path) || !IntArg(info, 1, &progFd) || !IntArg(info, 2, &type)) return;
  if (info.Length() > 3 && !info[3]->IsUndefined() && !IntArg(info, 3, &flags)) return;
  int cg = OpenCgroup(path);
  if (cg < 0) return;
  int err = bpf_prog_attach(static_cast<int>(progFd), cg, static_cast<bpf_attach_type>(type), static_cast<uint32_t>(flags));
  int saved = errno;
  close(cg);
  if (err) return ThrowErrno(saved, "bpf_prog_attach", path);
}

// cgroupDetach(cgroupPath, progFd, attachType)
static NAN_METHOD(CgroupDetach) {
  std::string path;
  int64_t progFd, type;
  if (!StringArg(info, 0, &path) || !IntArg(info, 1, &progFd) || !IntArg(info, 2, &type)) return;
  int cg = OpenCgroup(path);
  if (cg < 0) return;
  int err = bpf_prog_detach2(static_cast<int>(progFd), cg, static_cast<bpf_attach_type>(type));
  int saved = errno;
  close(cg);
  if (err) return ThrowErrno(saved, "bpf_prog_detach2", path);
}

// cgroupLinkCreate(cgroupPath, progFd, attachType) -> linkFd. A link, unlike bpf_prog_attach, is
// released (and the program detached) when its last fd and its pin are gone, and can be pinned.
static NAN_METHOD(CgroupLinkCreate) {
  std::string path;
  int64_t progFd, type;
  if (!StringArg(info, 0, &path) || !IntArg(info, 1, &progFd) || !IntArg(info, 2, &type)) return;
  int cg = OpenCgroup(path);
  if (cg < 0) return;
  int fd = bpf_link_create(static_cast<int>(progFd), cg, static_cast<bpf_attach_type>(type), nullptr);
  int saved = errno;
  close(cg);
  if (fd < 0) return ThrowErrno(saved, "bpf_link_create", path);
  info.GetReturnValue().Set(fd);
}

// linkUpdate(linkFd, newProgFd): swaps the link's program atomically.
static NAN_METHOD(LinkUpdate) {
  int64_t linkFd, progFd;
  if (!IntArg(info, 0, &linkFd) || !IntArg(info, 1, &progFd)) return;
  if (bpf_link_update(static_cast<int>(linkFd), static_cast<int>(progFd), nullptr))
    return ThrowErrno(errno, "bpf_link_update");
}

// linkDetach(linkFd): detaches now, whoever else still holds the link.
static NAN_METHOD(LinkDetach) {
  int64_t linkFd;
  if (!IntArg(info, 0, &linkFd)) return;
  if (bpf_link_detach(static_cast<int>(linkFd))) return ThrowErrno(errno, "bpf_link_detach");
}

// cgroupQuery(cgroupPath, attachType, effective = false) -> program ids attached there (effective:
// also those inherited from the ancestors)
static NAN_METHOD(CgroupQuery) {
  std::string path;
  int64_t type;
  if (!StringArg(info, 0, &path) || !IntArg(info, 1, &type)) return;
  bool effective = info.Length() > 2 && Nan::To<bool>(info[2]).FromMaybe(false);
  int cg = OpenCgroup(path);
  if (cg < 0) return;
  std::vector<uint32_t> ids(256);
  uint32_t count = static_cast<uint32_t>(ids.size()), flags = 0;
  int err = bpf_prog_query(cg, static_cast<bpf_attach_type>(type), effective ? BPF_F_QUERY_EFFECTIVE : 0, &flags,
                           ids.data(), &count);
  int saved = errno;
  close(cg);
  if (err) return ThrowErrno(saved, "bpf_prog_query", path);
  v8::Local<v8::Array> out = Nan::New<v8::Array>();
  for (uint32_t i = 0; i < count && i < ids.size(); i++) Nan::Set(out, i, Nan::New(ids[i]));
  info.GetReturnValue().Set(out);
}

// progGetFdById(id) -> fd (close it with closeFd)
static NAN_METHOD(ProgGetFdById) {
  int64_t id;
  if (!IntArg(info, 0, &id)) return;
  int fd = bpf_prog_get_fd_by_id(static_cast<uint32_t>(id));
  if (fd < 0) return ThrowErrno(errno, "bpf_prog_get_fd_by_id");
  info.GetReturnValue().Set(fd);
}

// netnsCookie() -> bigint: the cookie of the calling thread's network namespace, as
// bpf_get_netns_cookie sees it (SO_NETNS_COOKIE).
static NAN_METHOD(NetnsCookie) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return ThrowErrno(errno, "socket");
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
  int err = getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len);
  int saved = errno;
  close(s);
  if (err) return ThrowErrno(saved, "getsockopt(SO_NETNS_COOKIE)");
  info.GetReturnValue().Set(v8::BigInt::NewFromUnsigned(info.GetIsolate(), cookie));
}

// progInfo(fd) -> { id, type, name, tag }
static NAN_METHOD(ProgInfo) {
  int64_t fd;
  if (!IntArg(info, 0, &fd)) return;
  bpf_prog_info pi;
  memset(&pi, 0, sizeof(pi));
  uint32_t len = sizeof(pi);
  if (bpf_obj_get_info_by_fd(fd, &pi, &len)) return ThrowErrno(errno, "bpf_obj_get_info_by_fd");
  char tag[2 * BPF_TAG_SIZE + 1];
  for (int i = 0; i < BPF_TAG_SIZE; i++) snprintf(tag + 2 * i, 3, "%02x", pi.tag[i]);
  v8::Local<v8::Object> o = Nan::New<v8::Object>();
  Nan::Set(o, Nan::New("id").ToLocalChecked(), Nan::New(pi.id));
  Nan::Set(o, Nan::New("type").ToLocalChecked(), Nan::New(pi.type));
  Nan::Set(o, Nan::New("name").ToLocalChecked(), Nan::New(pi.name).ToLocalChecked());
  Nan::Set(o, Nan::New("tag").ToLocalChecked(), Nan::New(tag).ToLocalChecked());
  info.GetReturnValue().Set(o);
}

void InitPrograms(v8::Local<v8::Object> exports) {
  SET_FN(exports, "progTestRun", ProgTestRun);
  SET_FN(exports, "progInfo", ProgInfo);
  SET_FN(exports, "tcAttach", TcAttach);
  SET_FN(exports, "tcDetach", TcDetach);
  SET_FN(exports, "tcQuery", TcQuery);
  SET_FN(exports, "tcHookDestroy", TcHookDestroy);
  SET_FN(exports, "xdpAttach", XdpAttach);
  SET_FN(exports, "xdpDetach", XdpDetach);
  SET_FN(exports, "xdpQuery", XdpQuery);
  SET_FN(exports, "cgroupAttach", CgroupAttach);
  SET_FN(exports, "cgroupDetach", CgroupDetach);
  SET_FN(exports, "cgroupLinkCreate", CgroupLinkCreate);
  SET_FN(exports, "cgroupQuery", CgroupQuery);
  SET_FN(exports, "linkUpdate", LinkUpdate);
  SET_FN(exports, "linkDetach", LinkDetach);
  SET_FN(exports, "progGetFdById", ProgGetFdById);
  SET_FN(exports, "netnsCookie", NetnsCookie);
}
