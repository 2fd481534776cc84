"""``devenv tools [PATH] [--json]``: the tool recipes a project can use."""

from __future__ import annotations

import json

from devenv import config
from devenv.images import catalogue


def run(path: str, *, as_json: bool = False) -> int:
    tools = catalogue.available(config.user_file().parent / "tools",
                                path)
    ordered = sorted(tools.values(), key=lambda t: t.name)
    if as_json:
        print(json.dumps([{"name": t.name, "summary": t.manifest.summary, "depends": t.depends,
                           "needs_download": t.manifest.download, "source": t.source}
                          for t in ordered], indent=2))
        return 0
    width = max(len(t.name) for t in ordered)
    for t in ordered:
        extra = f" (needs {', '.join(t.depends)})" if t.depends else ""
        if t.manifest.download:
            extra += " [needs downloads from outside the package registries]"
        if not t.source.startswith("catalogue/"):
            extra += f" [{t.source}]"
        print(f"{t.name.ljust(width)}  {t.manifest.summary}{extra}")
    return 0
