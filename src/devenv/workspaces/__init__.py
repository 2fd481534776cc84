"""Workspaces: per-agent checkouts of a project on a target (its environment, this machine,
an SSH host), incremental git sync, snapshots into the project's own repository, and the
project's init hook that runs in each (docs/workspaces.md, docs/security.md)."""
