// Command etcd is the etcd server, built from the official
// go.etcd.io/etcd/server/v3 module (version pinned in ../../go.mod).
// It is byte-for-byte the same entry point as go.etcd.io/etcd/server/v3's
// own main.go.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
