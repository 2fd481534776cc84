"""devenv: isolated, long-lived, SSH-reachable development environments per project."""

__version__ = "0.1.0"
