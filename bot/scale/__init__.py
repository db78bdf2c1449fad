"""Scale mode: the pieces that let several gateway workers and Rasa instances share PostgreSQL and
Redis (cross-process event fan-out, per-conversation turn locks, throwaway local services for tests
and benchmarks). Switched on by VELKOMMEN_MODE=scale; see docs/deployment.md.
"""
