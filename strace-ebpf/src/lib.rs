// Empty library target: it lets strace-api take a build-dependency on this
// package, so cargo rebuilds the daemon when the eBPF program changes.
#![no_std]
