{
  "targets": [
    {
      "target_name": "cilium_ts_bpf",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/object.cc",
        "src/maps.cc",
        "src/programs.cc",
        "src/ringbuf.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node:path').dirname(require.resolve('nan/package.json'))\")"],
      "libraries": ["-lbpf", "-lelf", "-lz"],
      "cflags_cc": ["-Wall", "-Wextra", "-Wno-cast-function-type", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
