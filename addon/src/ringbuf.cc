// RingBuffer: consumes a BPF ring buffer map on the libuv loop. libbpf's ring buffer
// manager exposes an epoll fd that becomes readable when records arrive; a uv_poll on
// it runs ring_buffer__consume on the JS thread, so there is no busy polling and no thread.
#include <bpf/libbpf.h>
#include <cerrno>
#include <uv.h>

#include "common.h"

class RingBuffer : public Nan::ObjectWrap {
 public:
  static NAN_MODULE_INIT(Init) {
    v8::Local<v8::FunctionTemplate> tpl = Nan::New<v8::FunctionTemplate>(New);
    tpl->SetClassName(Nan::New("RingBuffer").ToLocalChecked());
    tpl->InstanceTemplate()->SetInternalFieldCount(1);
    Nan::SetPrototypeMethod(tpl, "consume", Consume);
    Nan::SetPrototypeMethod(tpl, "close", Close);
    Nan::SetPrototypeMethod(tpl, "ref", RefLoop);
    Nan::SetPrototypeMethod(tpl, "unref", UnrefLoop);
    Nan::Set(target, Nan::New("RingBuffer").ToLocalChecked(), Nan::GetFunction(tpl).ToLocalChecked());
  }

 private:
  RingBuffer() = default;
  ~RingBuffer() override {
    delete callback_;
    delete async_;
  }

  // new RingBuffer(mapFd, (record: Buffer) => void)
  static NAN_METHOD(New) {
    if (!info.IsConstructCall()) return Nan::ThrowTypeError("use new RingBuffer(fd, callback)");
    int64_t fd;
    if (!IntArg(info, 0, &fd)) return;
    if (info.Length() < 2 || !info[1]->IsFunction()) return Nan::ThrowTypeError("callback must be a function");
    RingBuffer *self = new RingBuffer();
    self->rb_ = ring_buffer__new(static_cast<int>(fd), OnSample, self, nullptr);
    if (!self->rb_) {
      int err = errno;
      delete self;
      return ThrowErrno(err, "ring_buffer__new");
    }
    self->Wrap(info.This());
    self->callback_ = new Nan::Callback(info[1].As<v8::Function>());
    self->async_ = new Nan::AsyncResource("cilium-ts:RingBuffer");
    self->poll_ = new uv_poll_t;
    self->poll_->data = self;
    int err = uv_poll_init(Nan::GetCurrentEventLoop(), self->poll_, ring_buffer__epoll_fd(self->rb_));
    if (err == 0) err = uv_poll_start(self->poll_, UV_READABLE, OnReadable);
    if (err) {
      ring_buffer__free(self->rb_);
      self->rb_ = nullptr;
      delete self->poll_;
      self->poll_ = nullptr;
      return ThrowErrno(-err, "uv_poll_start");
    }
    self->Ref(); // stays alive while the poll handle is open
    info.GetReturnValue().Set(info.This());
  }

  static int OnSample(void *ctx, void *data, size_t size) {
    RingBuffer *self = static_cast<RingBuffer *>(ctx);
    if (self->closing_) return 1; // stop: close() was called from a callback
    Nan::HandleScope scope;
    v8::Local<v8::Value> argv[] = {Nan::CopyBuffer(static_cast<const char *>(data), size).ToLocalChecked()};
    self->callback_->Call(1, argv, self->async_);
    self->delivered_++;
    return 0;
  }

  static void OnReadable(uv_poll_t *handle, int status, int events) {
    RingBuffer *self = static_cast<RingBuffer *>(handle->data);
    if (self->closing_ || !self->rb_) return;
    Nan::HandleScope scope;
    ring_buffer__consume(self->rb_);
  }

  static void OnClosed(uv_handle_t *handle) {
    RingBuffer *self = static_cast<RingBuffer *>(handle->data);
    delete reinterpret_cast<uv_poll_t *>(handle);
    if (self->rb_) ring_buffer__free(self->rb_);
    self->rb_ = nullptr;
    self->poll_ = nullptr;
    // The callback often closes over this RingBuffer; dropping it breaks that cycle so the
    // wrapper can be collected.
    delete self->callback_;
    self->callback_ = nullptr;
    self->Unref();
  }

  // consume() -> number of records delivered now (drains synchronously)
  static NAN_METHOD(Consume) {
    RingBuffer *self = Nan::ObjectWrap::Unwrap<RingBuffer>(info.Holder());
    if (self->closing_ || !self->rb_) return Nan::ThrowError("RingBuffer is closed");
    uint64_t before = self->delivered_;
    int n = ring_buffer__consume(self->rb_);
    if (n < 0) return ThrowErrno(-n, "ring_buffer__consume");
    info.GetReturnValue().Set(static_cast<double>(self->delivered_ - before));
  }

  static NAN_METHOD(Close) {
    RingBuffer *self = Nan::ObjectWrap::Unwrap<RingBuffer>(info.Holder());
    if (self->closing_ || !self->poll_) return;
    self->closing_ = true;
    uv_poll_stop(self->poll_);
    // The ring buffer is freed in OnClosed, never while ring_buffer__consume may be on the stack.
    uv_close(reinterpret_cast<uv_handle_t *>(self->poll_), OnClosed);
  }

  static NAN_METHOD(RefLoop) {
    RingBuffer *self = Nan::ObjectWrap::Unwrap<RingBuffer>(info.Holder());
    if (self->poll_ && !self->closing_) uv_ref(reinterpret_cast<uv_handle_t *>(self->poll_));
  }

  static NAN_METHOD(UnrefLoop) {
    RingBuffer *self = Nan::ObjectWrap::Unwrap<RingBuffer>(info.Holder());
    if (self->poll_ && !self->closing_) uv_unref(reinterpret_cast<uv_handle_t *>(self->poll_));
  }

  ring_buffer *rb_ = nullptr;
  uv_poll_t *poll_ = nullptr;
  Nan::Callback *callback_ = nullptr;
  Nan::AsyncResource *async_ = nullptr;
  bool closing_ = false;
  uint64_t delivered_ = 0;
};

void InitRingBuf(v8::Local<v8::Object> exports) { RingBuffer::Init(exports); }
