//go:build tools

// Package tools pins the hubble CLI's main package (it lives in the cilium module since Cilium
// v1.18; the standalone github.com/cilium/hubble module is not served by the Go module proxy), so
// that go.mod/go.sum hold everything build.sh needs (go mod tidy keeps them).
package tools

import (
	_ "github.com/cilium/cilium/hubble"
)
