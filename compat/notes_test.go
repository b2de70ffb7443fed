package compat

// notes classifies the differences that stay, by step key.
var notes = map[string]note{}

// fixed are differences this audit removed, by step key: a run in which
// one differs again fails.
var fixed = map[string]string{}
