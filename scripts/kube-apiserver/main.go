// A kube-apiserver built from the upstream Kubernetes module, for the conformance tests'
// server-side dry-run (scripts/install-validators.sh builds it; tests/it/cluster.rs runs it).
// The same main as cmd/kube-apiserver in the Kubernetes tree.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
