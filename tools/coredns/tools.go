//go:build tools

// Package tools pins CoreDNS's main package (github.com/coredns/coredns, with its default plugin set
// compiled in from core/plugin/zplugin.go), so that go.mod/go.sum hold everything build.sh needs
// (go mod tidy keeps them).
package tools

import (
	_ "github.com/coredns/coredns"
)
