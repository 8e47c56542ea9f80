#include <bpf/libbpf.h>
#include <cstdarg>
#include <cstring>
#include <uv.h>

#include "common.h"

// libuv names the portable errnos; the kernel-only ones bpf() returns are added here.
static std::string ErrnoName(int err) {
  switch (err) {
    case 77: return "EBADFD";
    case 95: return "EOPNOTSUPP";
    case 524: return "ENOTSUPP";
  }
  const char *name = uv_err_name(-err);
  if (strncmp(name, "Unknown", 7) != 0) return name;
  char buf[32];
  snprintf(buf, sizeof(buf), "E%d", err);
  return buf;
}

void ThrowErrno(int err, const char *syscall, const std::string &detail, const std::string &log) {
  if (err < 0) err = -err;
  std::string msg = std::string(syscall) + ": " + strerror(err);
  if (!detail.empty()) msg += " (" + detail + ")";
  v8::Local<v8::Value> e = Nan::Error(msg.c_str());
  v8::Local<v8::Object> o = e.As<v8::Object>();
  Nan::Set(o, Nan::New("errno").ToLocalChecked(), Nan::New(err));
  Nan::Set(o, Nan::New("code").ToLocalChecked(), Nan::New(ErrnoName(err)).ToLocalChecked());
  Nan::Set(o, Nan::New("syscall").ToLocalChecked(), Nan::New(syscall).ToLocalChecked());
  if (!log.empty())
    Nan::Set(o, Nan::New("verifierLog").ToLocalChecked(), Nan::New(log).ToLocalChecked());
  Nan::ThrowError(e);
}

bool BufferArg(const Nan::FunctionCallbackInfo<v8::Value> &info, int i, const char **data,
               size_t *len) {
  if (info.Length() <= i || !node::Buffer::HasInstance(info[i])) {
    Nan::ThrowTypeError(("argument " + std::to_string(i) + " must be a Buffer").c_str());
    return false;
  }
  *data = node::Buffer::Data(info[i]);
  *len = node::Buffer::Length(info[i]);
  return true;
}

bool IntArg(const Nan::FunctionCallbackInfo<v8::Value> &info, int i, int64_t *out) {
  if (info.Length() <= i || !info[i]->IsNumber()) {
    Nan::ThrowTypeError(("argument " + std::to_string(i) + " must be a number").c_str());
    return false;
  }
  *out = static_cast<int64_t>(Nan::To<double>(info[i]).FromJust());
  return true;
}

bool StringArg(const Nan::FunctionCallbackInfo<v8::Value> &info, int i, std::string *out) {
  if (info.Length() <= i || !info[i]->IsString()) {
    Nan::ThrowTypeError(("argument " + std::to_string(i) + " must be a string").c_str());
    return false;
  }
  Nan::Utf8String s(info[i]);
  *out = std::string(*s, s.length());
  return true;
}

// libbpf calls are made from the JS thread only, so one capture buffer suffices.
static std::string g_capture;
static bool g_capturing = false;

static int LibbpfPrint(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (!g_capturing || level == LIBBPF_DEBUG) return 0;
  char buf[4096];
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(buf, sizeof(buf), fmt, copy);
  va_end(copy);
  if (n < 0) return 0;
  if (static_cast<size_t>(n) < sizeof(buf)) {
    g_capture.append(buf, n);
  } else {
    std::string big(n + 1, '\0');
    vsnprintf(&big[0], big.size(), fmt, args);
    big.resize(n);
    g_capture += big;
  }
  return n;
}

void BeginLibbpfCapture() {
  static bool installed = false;
  if (!installed) {
    libbpf_set_print(LibbpfPrint);
    installed = true;
  }
  g_capture.clear();
  g_capturing = true;
}

std::string EndLibbpfCapture() {
  g_capturing = false;
  std::string out;
  out.swap(g_capture);
  return out;
}
