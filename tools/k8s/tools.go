//go:build tools

// Package tools pins the Kubernetes main packages that build.sh compiles,
// so that go.mod/go.sum hold everything they need (go mod tidy keeps them).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
