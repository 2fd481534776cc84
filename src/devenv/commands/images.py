"""``devenv images [--json]``: devenv's images, what they are and who uses them."""

from __future__ import annotations

import json
from typing import Any

from devenv.engine import docker


def collect() -> list[dict[str, Any]]:
    """Every devenv image with its kind, size and users (containers and child images)."""
    out = docker.docker(["image", "ls", "--filter", "label=devenv=true", "--format",
                         "{{.Repository}}:{{.Tag}}"], timeout=60).stdout.split()
    tags = [tag for tag in out if not tag.startswith("<none>")]
    images = docker.inspect("image", tags)
    containers = docker.containers({"devenv": "true"})
    parents = {tag: docker.labels_of(d).get("devenv.parent") for d in images
               for tag in d.get("RepoTags") or []}
    rows = []
    for data in images:
        labels = docker.labels_of(data)
        for tag in sorted(set(data.get("RepoTags") or []) & set(tags)):
            users = sorted(str(c.get("Name", "")).lstrip("/") for c in containers
                           if (c.get("Config") or {}).get("Image") == tag)
            rows.append({"image": tag, "kind": labels.get("devenv.image", "?"),
                         "tool": labels.get("devenv.tool"),
                         "size_mb": round(data["Size"] / 1e6),
                         "created": data.get("Created", "")[:19], "containers": users,
                         "children": sorted(t for t, p in parents.items() if p == tag)})
    return rows


def run(*, as_json: bool = False) -> int:
    rows = collect()
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no devenv images")
        return 0
    table = [("IMAGE", "KIND", "SIZE", "USED BY")]
    for row in rows:
        users = row["containers"] + [f"image {c}" for c in row["children"]]
        table.append((row["image"], row["kind"], f"{row['size_mb']} MB",
                      ", ".join(users) or "-"))
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    for r in table:
        print("  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[3]]))
    return 0
