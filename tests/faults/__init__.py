"""Multi-process and fault tests: real worker processes on a real redis-server."""
