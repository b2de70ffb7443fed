package main_test

import "syscall"

// syscallSignal0 probes a process without affecting it.
var syscallSignal0 = syscall.Signal(0)
