// Empty library target: it lets strace-bench take a build-dependency on this
// package, so cargo rebuilds the benchmark when the floor programs change.
#![no_std]
