"""Workspaces: per-agent checkouts of a project on a target (the project's environment, a
git worktree on the host, an SSH host), and the project's init hook that runs in each
(docs/architecture.md, docs/security.md)."""
