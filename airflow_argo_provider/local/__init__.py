"""The local backend: container and script templates as processes on this machine."""
