// Map syscalls on file descriptors. Key and value sizes are always taken from the kernel's
// map info, never trusted from the caller, so a short Buffer can't make the kernel read or
// write outside it.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <unistd.h>
#include <vector>

#include "common.h"

struct MapShape {
  uint32_t type, keySize, valueSize; // valueSize already multiplied out for per-CPU maps
};

static bool IsPerCpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

static bool GetShape(int fd, MapShape *s) {
  bpf_map_info mi;
  memset(&mi, 0, sizeof(mi));
  uint32_t len = sizeof(mi);
  int err = bpf_obj_get_info_by_fd(fd, &mi, &len);
  if (err) {
    ThrowErrno(errno, "bpf_obj_get_info_by_fd");
    return false;
  }
  s->type = mi.type;
  s->keySize = mi.key_size;
  s->valueSize = mi.value_size;
  if (IsPerCpu(mi.type)) {
    int ncpu = libbpf_num_possible_cpus();
    s->valueSize = ((mi.value_size + 7) / 8) * 8 * (ncpu > 0 ? ncpu : 1);
  }
  return true;
}

static bool CheckLen(size_t got, size_t want, const char *what) {
  if (got != want) {
    std::string m = std::string(what) + " must be " + std::to_string(want) + " bytes, got " +
                    std::to_string(got);
    Nan::ThrowRangeError(m.c_str());
    return false;
  }
  return true;
}

// mapCreate({ type, keySize, valueSize, maxEntries, flags?, name?, innerMapFd? }) -> fd
static NAN_METHOD(MapCreate) {
  if (info.Length() < 1 || !info[0]->IsObject()) return Nan::ThrowTypeError("options object required");
  v8::Local<v8::Object> o = info[0].As<v8::Object>();
  auto num = [&](const char *k, int64_t def) -> int64_t {
    v8::Local<v8::Value> v = Nan::Get(o, Nan::New(k).ToLocalChecked()).ToLocalChecked();
    return v->IsNumber() ? static_cast<int64_t>(Nan::To<double>(v).FromJust()) : def;
  };
  v8::Local<v8::Value> nv = Nan::Get(o, Nan::New("name").ToLocalChecked()).ToLocalChecked();
  std::string name = nv->IsString() ? std::string(*Nan::Utf8String(nv)) : std::string();
  if (name.size() > 15) name.resize(15);
  LIBBPF_OPTS(bpf_map_create_opts, co);
  co.map_flags = static_cast<uint32_t>(num("flags", 0));
  int64_t inner = num("innerMapFd", -1);
  if (inner >= 0) co.inner_map_fd = static_cast<uint32_t>(inner);
  int fd = bpf_map_create(static_cast<bpf_map_type>(num("type", 0)), name.empty() ? nullptr : name.c_str(),
                          static_cast<uint32_t>(num("keySize", 0)), static_cast<uint32_t>(num("valueSize", 0)),
                          static_cast<uint32_t>(num("maxEntries", 0)), &co);
  if (fd < 0) return ThrowErrno(errno, "bpf_map_create", name);
  info.GetReturnValue().Set(fd);
}

// mapLookup(fd, key) -> Buffer | null
static NAN_METHOD(MapLookup) {
  int64_t fd;
  const char *key;
  size_t klen;
  MapShape s;
  if (!IntArg(info, 0, &fd) || !BufferArg(info, 1, &key, &klen) || !GetShape(fd, &s)) return;
  if (!CheckLen(klen, s.keySize, "key")) return;
  std::vector<char> val(s.valueSize ? s.valueSize : 1);
  if (bpf_map_lookup_elem(fd, key, val.data())) {
    if (errno == ENOENT) return info.GetReturnValue().SetNull();
    return ThrowErrno(errno, "bpf_map_lookup_elem");
  }
  info.GetReturnValue().Set(Nan::CopyBuffer(val.data(), s.valueSize).ToLocalChecked());
}

// mapUpdate(fd, key, value, flags = BPF_ANY)
static NAN_METHOD(MapUpdate) {
  int64_t fd, flags = BPF_ANY;
  const char *key, *val;
  size_t klen, vlen;
  MapShape s;
  if (!IntArg(info, 0, &fd) || !BufferArg(info, 1, &key, &klen) || !BufferArg(info, 2, &val, &vlen)) return;
  if (info.Length() > 3 && !info[3]->IsUndefined() && !IntArg(info, 3, &flags)) return;
  if (!GetShape(fd, &s)) return;
  if (!CheckLen(klen, s.keySize, "key")) return;
  // Maps of maps take the inner map's fd (4 bytes) as the value.
  if (!CheckLen(vlen, s.valueSize, "value")) return;
  if (bpf_map_update_elem(fd, key, val, flags)) return ThrowErrno(errno, "bpf_map_update_elem");
}

// mapDelete(fd, key) -> boolean (false if the key was absent)
static NAN_METHOD(MapDelete) {
  int64_t fd;
  const char *key;
  size_t klen;
  MapShape s;
  if (!IntArg(info, 0, &fd) || !BufferArg(info, 1, &key, &klen) || !GetShape(fd, &s)) return;
  if (!CheckLen(klen, s.keySize, "key")) return;
  if (bpf_map_delete_elem(fd, key)) {
    if (errno == ENOENT) return info.GetReturnValue().Set(false);
    return ThrowErrno(errno, "bpf_map_delete_elem");
  }
  info.GetReturnValue().Set(true);
}

// mapGetNextKey(fd, key | null) -> Buffer | null (null after the last key)
static NAN_METHOD(MapGetNextKey) {
  int64_t fd;
  MapShape s;
  if (!IntArg(info, 0, &fd) || !GetShape(fd, &s)) return;
  const char *key = nullptr;
  size_t klen = 0;
  if (info.Length() > 1 && !info[1]->IsNull() && !info[1]->IsUndefined()) {
    if (!BufferArg(info, 1, &key, &klen) || !CheckLen(klen, s.keySize, "key")) return;
  }
  std::vector<char> next(s.keySize ? s.keySize : 1);
  if (bpf_map_get_next_key(fd, key, next.data())) {
    if (errno == ENOENT) return info.GetReturnValue().SetNull();
    return ThrowErrno(errno, "bpf_map_get_next_key");
  }
  info.GetReturnValue().Set(Nan::CopyBuffer(next.data(), s.keySize).ToLocalChecked());
}

// mapLookupBatch(fd, maxCount, inBatch | null) -> { keys, values, count, nextBatch | null }
// Throws with code EINVAL/ENOTSUPP/EOPNOTSUPP on map types without batch support (LPM trie).
static NAN_METHOD(MapLookupBatch) {
  int64_t fd, max;
  MapShape s;
  if (!IntArg(info, 0, &fd) || !IntArg(info, 1, &max) || !GetShape(fd, &s)) return;
  if (max <= 0 || max > (1 << 20)) return Nan::ThrowRangeError("maxCount out of range");
  size_t tokLen = s.keySize < 8 ? 8 : s.keySize;
  std::vector<char> inTok(tokLen), outTok(tokLen);
  bool haveIn = false;
  if (info.Length() > 2 && !info[2]->IsNull() && !info[2]->IsUndefined()) {
    const char *t;
    size_t tl;
    if (!BufferArg(info, 2, &t, &tl) || !CheckLen(tl, tokLen, "inBatch")) return;
    memcpy(inTok.data(), t, tl);
    haveIn = true;
  }
  std::vector<char> keys(static_cast<size_t>(max) * s.keySize), vals(static_cast<size_t>(max) * s.valueSize);
  uint32_t count = static_cast<uint32_t>(max);
  LIBBPF_OPTS(bpf_map_batch_opts, bo);
  int err = bpf_map_lookup_batch(fd, haveIn ? inTok.data() : nullptr, outTok.data(), keys.data(),
                                 vals.data(), &count, &bo);
  bool done = false;
  if (err) {
    if (errno != ENOENT) return ThrowErrno(errno, "bpf_map_lookup_batch");
    done = true;
  }
  v8::Local<v8::Object> o = Nan::New<v8::Object>();
  Nan::Set(o, Nan::New("keys").ToLocalChecked(), Nan::CopyBuffer(keys.data(), count * s.keySize).ToLocalChecked());
  Nan::Set(o, Nan::New("values").ToLocalChecked(), Nan::CopyBuffer(vals.data(), count * s.valueSize).ToLocalChecked());
  Nan::Set(o, Nan::New("count").ToLocalChecked(), Nan::New(count));
  if (done)
    Nan::Set(o, Nan::New("nextBatch").ToLocalChecked(), Nan::Null());
  else
    Nan::Set(o, Nan::New("nextBatch").ToLocalChecked(), Nan::CopyBuffer(outTok.data(), tokLen).ToLocalChecked());
  info.GetReturnValue().Set(o);
}

// mapUpdateBatch(fd, keys, values, flags = BPF_ANY) -> count written
static NAN_METHOD(MapUpdateBatch) {
  int64_t fd, flags = BPF_ANY;
  const char *keys, *vals;
  size_t klen, vlen;
  MapShape s;
  if (!IntArg(info, 0, &fd) || !BufferArg(info, 1, &keys, &klen) || !BufferArg(info, 2, &vals, &vlen)) return;
  if (info.Length() > 3 && !info[3]->IsUndefined() && !IntArg(info, 3, &flags)) return;
  if (!GetShape(fd, &s)) return;
  if (s.keySize == 0 || klen % s.keySize) return Nan::ThrowRangeError("keys length is not a multiple of the key size");
  uint32_t count = klen / s.keySize;
  if (!CheckLen(vlen, static_cast<size_t>(count) * s.valueSize, "values")) return;
  if (count == 0) return info.GetReturnValue().Set(0);
  LIBBPF_OPTS(bpf_map_batch_opts, bo, .elem_flags = static_cast<uint64_t>(flags));
  if (bpf_map_update_batch(fd, keys, vals, &count, &bo)) return ThrowErrno(errno, "bpf_map_update_batch");
  info.GetReturnValue().Set(count);
}

// mapDeleteBatch(fd, keys) -> count deleted
static NAN_METHOD(MapDeleteBatch) {
  int64_t fd;
  const char *keys;
  size_t klen;
  MapShape s;
  if (!IntArg(info, 0, &fd) || !BufferArg(info, 1, &keys, &klen) || !GetShape(fd, &s)) return;
  if (s.keySize == 0 || klen % s.keySize) return Nan::ThrowRangeError("keys length is not a multiple of the key size");
  uint32_t count = klen / s.keySize;
  if (count == 0) return info.GetReturnValue().Set(0);
  LIBBPF_OPTS(bpf_map_batch_opts, bo);
  if (bpf_map_delete_batch(fd, keys, &count, &bo)) return ThrowErrno(errno, "bpf_map_delete_batch");
  info.GetReturnValue().Set(count);
}

// mapInfo(fd) -> { type, id, keySize, valueSize, maxEntries, flags, name }
static NAN_METHOD(MapInfo) {
  int64_t fd;
  if (!IntArg(info, 0, &fd)) return;
  bpf_map_info mi;
  memset(&mi, 0, sizeof(mi));
  uint32_t len = sizeof(mi);
  if (bpf_obj_get_info_by_fd(fd, &mi, &len)) return ThrowErrno(errno, "bpf_obj_get_info_by_fd");
  v8::Local<v8::Object> o = Nan::New<v8::Object>();
  Nan::Set(o, Nan::New("type").ToLocalChecked(), Nan::New(mi.type));
  Nan::Set(o, Nan::New("id").ToLocalChecked(), Nan::New(mi.id));
  Nan::Set(o, Nan::New("keySize").ToLocalChecked(), Nan::New(mi.key_size));
  Nan::Set(o, Nan::New("valueSize").ToLocalChecked(), Nan::New(mi.value_size));
  Nan::Set(o, Nan::New("maxEntries").ToLocalChecked(), Nan::New(mi.max_entries));
  Nan::Set(o, Nan::New("flags").ToLocalChecked(), Nan::New(mi.map_flags));
  Nan::Set(o, Nan::New("name").ToLocalChecked(), Nan::New(mi.name).ToLocalChecked());
  info.GetReturnValue().Set(o);
}

// objPin(fd, path)
static NAN_METHOD(ObjPin) {
  int64_t fd;
  std::string path;
  if (!IntArg(info, 0, &fd) || !StringArg(info, 1, &path)) return;
  if (bpf_obj_pin(fd, path.c_str())) return ThrowErrno(errno, "bpf_obj_pin", path);
}

// objGet(path) -> fd
static NAN_METHOD(ObjGet) {
  std::string path;
  if (!StringArg(info, 0, &path)) return;
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return ThrowErrno(errno, "bpf_obj_get", path);
  info.GetReturnValue().Set(fd);
}

// closeFd(fd): for fds returned by mapCreate / objGet (never for a BpfObject's own fds).
static NAN_METHOD(CloseFd) {
  int64_t fd;
  if (!IntArg(info, 0, &fd)) return;
  if (close(static_cast<int>(fd))) return ThrowErrno(errno, "close");
}

// mapGetFdById(id) -> fd (e.g. an inner map found in a map of maps)
static NAN_METHOD(MapGetFdById) {
  int64_t id;
  if (!IntArg(info, 0, &id)) return;
  int fd = bpf_map_get_fd_by_id(static_cast<uint32_t>(id));
  if (fd < 0) return ThrowErrno(errno, "bpf_map_get_fd_by_id");
  info.GetReturnValue().Set(fd);
}

static NAN_METHOD(NumPossibleCpus) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) return ThrowErrno(-n, "libbpf_num_possible_cpus");
  info.GetReturnValue().Set(n);
}

void InitMaps(v8::Local<v8::Object> exports) {
  SET_FN(exports, "mapCreate", MapCreate);
  SET_FN(exports, "mapLookup", MapLookup);
  SET_FN(exports, "mapUpdate", MapUpdate);
  SET_FN(exports, "mapDelete", MapDelete);
  SET_FN(exports, "mapGetNextKey", MapGetNextKey);
  SET_FN(exports, "mapLookupBatch", MapLookupBatch);
  SET_FN(exports, "mapUpdateBatch", MapUpdateBatch);
  SET_FN(exports, "mapDeleteBatch", MapDeleteBatch);
  SET_FN(exports, "mapInfo", MapInfo);
  SET_FN(exports, "objPin", ObjPin);
  SET_FN(exports, "objGet", ObjGet);
  SET_FN(exports, "closeFd", CloseFd);
  SET_FN(exports, "numPossibleCpus", NumPossibleCpus);
  SET_FN(exports, "mapGetFdById", MapGetFdById);
}
