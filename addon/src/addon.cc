#include "common.h"

NAN_MODULE_INIT(Init) {
  InitObject(target);
  InitMaps(target);
  InitPrograms(target);
  InitRingBuf(target);
}

NODE_MODULE(cilium_ts_bpf, Init)
