// BpfObject: an ELF object opened and loaded through libbpf, with map pinning and reuse.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>

#include "common.h"

class BpfObject : public Nan::ObjectWrap {
 public:
  static Nan::Persistent<v8::Function> constructor;

  static NAN_MODULE_INIT(Init) {
    v8::Local<v8::FunctionTemplate> tpl = Nan::New<v8::FunctionTemplate>(New);
    tpl->SetClassName(Nan::New("BpfObject").ToLocalChecked());
    tpl->InstanceTemplate()->SetInternalFieldCount(1);
    Nan::SetPrototypeMethod(tpl, "load", Load);
    Nan::SetPrototypeMethod(tpl, "programs", Programs);
    Nan::SetPrototypeMethod(tpl, "maps", Maps);
    Nan::SetPrototypeMethod(tpl, "close", Close);
    constructor.Reset(Nan::GetFunction(tpl).ToLocalChecked());
    Nan::Set(target, Nan::New("BpfObject").ToLocalChecked(), Nan::GetFunction(tpl).ToLocalChecked());
  }

 private:
  explicit BpfObject(bpf_object *obj) : obj_(obj) {}
  ~BpfObject() override {
    if (obj_) bpf_object__close(obj_);
  }

  // new BpfObject(path, { pinRoot?: string, reuseMaps?: { [name]: fd } })
  static NAN_METHOD(New) {
    if (!info.IsConstructCall()) return Nan::ThrowTypeError("use new BpfObject(path, opts)");
    std::string path, pinRoot;
    if (!StringArg(info, 0, &path)) return;
    v8::Local<v8::Object> opts;
    if (info.Length() > 1 && info[1]->IsObject()) {
      opts = info[1].As<v8::Object>();
      v8::Local<v8::Value> pr = Nan::Get(opts, Nan::New("pinRoot").ToLocalChecked()).ToLocalChecked();
      if (pr->IsString()) pinRoot = *Nan::Utf8String(pr);
    }
    LIBBPF_OPTS(bpf_object_open_opts, oo);
    if (!pinRoot.empty()) oo.pin_root_path = pinRoot.c_str();
    BeginLibbpfCapture();
    bpf_object *obj = bpf_object__open_file(path.c_str(), &oo);
    std::string log = EndLibbpfCapture();
    if (!obj) return ThrowErrno(errno, "bpf_object__open_file", path, log);

    if (!opts.IsEmpty()) {
      v8::Local<v8::Value> rm = Nan::Get(opts, Nan::New("reuseMaps").ToLocalChecked()).ToLocalChecked();
      if (rm->IsObject()) {
        v8::Local<v8::Object> ro = rm.As<v8::Object>();
        v8::Local<v8::Array> names = Nan::GetOwnPropertyNames(ro).ToLocalChecked();
        for (uint32_t i = 0; i < names->Length(); i++) {
          v8::Local<v8::Value> n = Nan::Get(names, i).ToLocalChecked();
          std::string name = *Nan::Utf8String(n);
          int fd = Nan::To<int32_t>(Nan::Get(ro, n).ToLocalChecked()).FromMaybe(-1);
          bpf_map *m = bpf_object__find_map_by_name(obj, name.c_str());
          int err = m ? bpf_map__reuse_fd(m, fd) : -ENOENT;
          if (err) {
            bpf_object__close(obj);
            return ThrowErrno(-err, "bpf_map__reuse_fd", name);
          }
        }
      }
    }
    BpfObject *self = new BpfObject(obj);
    self->Wrap(info.This());
    info.GetReturnValue().Set(info.This());
  }

  static BpfObject *Self(const Nan::FunctionCallbackInfo<v8::Value> &info) {
    BpfObject *self = Nan::ObjectWrap::Unwrap<BpfObject>(info.Holder());
    if (!self->obj_) {
      Nan::ThrowError("BpfObject is closed");
      return nullptr;
    }
    return self;
  }

  static NAN_METHOD(Load) {
    BpfObject *self = Self(info);
    if (!self) return;
    BeginLibbpfCapture();
    int err = bpf_object__load(self->obj_);
    std::string log = EndLibbpfCapture();
    if (err) return ThrowErrno(-err, "bpf_object__load", bpf_object__name(self->obj_), log);
  }

  static NAN_METHOD(Programs) {
    BpfObject *self = Self(info);
    if (!self) return;
    v8::Local<v8::Array> out = Nan::New<v8::Array>();
    bpf_program *p;
    uint32_t i = 0;
    bpf_object__for_each_program(p, self->obj_) {
      v8::Local<v8::Object> o = Nan::New<v8::Object>();
      Nan::Set(o, Nan::New("name").ToLocalChecked(), Nan::New(bpf_program__name(p)).ToLocalChecked());
      Nan::Set(o, Nan::New("section").ToLocalChecked(), Nan::New(bpf_program__section_name(p)).ToLocalChecked());
      Nan::Set(o, Nan::New("fd").ToLocalChecked(), Nan::New(bpf_program__fd(p)));
      Nan::Set(o, Nan::New("type").ToLocalChecked(), Nan::New(static_cast<int>(bpf_program__type(p))));
      Nan::Set(o, Nan::New("attachType").ToLocalChecked(),
               Nan::New(static_cast<int>(bpf_program__expected_attach_type(p))));
      Nan::Set(out, i++, o);
    }
    info.GetReturnValue().Set(out);
  }

  static NAN_METHOD(Maps) {
    BpfObject *self = Self(info);
    if (!self) return;
    v8::Local<v8::Array> out = Nan::New<v8::Array>();
    bpf_map *m;
    uint32_t i = 0;
    bpf_object__for_each_map(m, self->obj_) {
      v8::Local<v8::Object> o = Nan::New<v8::Object>();
      Nan::Set(o, Nan::New("name").ToLocalChecked(), Nan::New(bpf_map__name(m)).ToLocalChecked());
      Nan::Set(o, Nan::New("fd").ToLocalChecked(), Nan::New(bpf_map__fd(m)));
      Nan::Set(o, Nan::New("type").ToLocalChecked(), Nan::New(static_cast<int>(bpf_map__type(m))));
      Nan::Set(o, Nan::New("keySize").ToLocalChecked(), Nan::New(bpf_map__key_size(m)));
      Nan::Set(o, Nan::New("valueSize").ToLocalChecked(), Nan::New(bpf_map__value_size(m)));
      Nan::Set(o, Nan::New("maxEntries").ToLocalChecked(), Nan::New(bpf_map__max_entries(m)));
      Nan::Set(o, Nan::New("flags").ToLocalChecked(), Nan::New(bpf_map__map_flags(m)));
      const char *pin = bpf_map__pin_path(m);
      if (pin) Nan::Set(o, Nan::New("pinPath").ToLocalChecked(), Nan::New(pin).ToLocalChecked());
      Nan::Set(out, i++, o);
    }
    info.GetReturnValue().Set(out);
  }

  static NAN_METHOD(Close) {
    BpfObject *self = Nan::ObjectWrap::Unwrap<BpfObject>(info.Holder());
    if (self->obj_) bpf_object__close(self->obj_);
    self->obj_ = nullptr;
  }

  bpf_object *obj_;
};

Nan::Persistent<v8::Function> BpfObject::constructor;

void InitObject(v8::Local<v8::Object> exports) { BpfObject::Init(exports); }
