// Shared declarations of the cilium-ts libbpf addon.
#pragma once

#include <nan.h>
#include <string>

// Throws a JS Error carrying errno, code (EPERM...), syscall and, when given, the verifier
// log. err is a positive errno value.
void ThrowErrno(int err, const char *syscall, const std::string &detail = "",
                const std::string &log = "");

// Buffer argument i, or a thrown TypeError (returns false).
bool BufferArg(const Nan::FunctionCallbackInfo<v8::Value> &info, int i, const char **data,
               size_t *len);
bool IntArg(const Nan::FunctionCallbackInfo<v8::Value> &info, int i, int64_t *out);
bool StringArg(const Nan::FunctionCallbackInfo<v8::Value> &info, int i, std::string *out);

// libbpf's messages since the last BeginCapture (the verifier log on load failures).
void BeginLibbpfCapture();
std::string EndLibbpfCapture();

void InitObject(v8::Local<v8::Object> exports);
void InitMaps(v8::Local<v8::Object> exports);
void InitPrograms(v8::Local<v8::Object> exports);
void InitRingBuf(v8::Local<v8::Object> exports);

#define SET_FN(exports, name, fn) Nan::SetMethod(exports, name, fn)
