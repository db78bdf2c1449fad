"""Benchmarks: scripts that print figures (run with `bin/velkommen benchmark NAME`)."""
