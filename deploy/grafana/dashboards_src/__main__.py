"""Write the boards' JSON to deploy/grafana/dashboards/, or check that it is current.

.venv/bin/python -m deploy.grafana.dashboards_src          # regenerate
.venv/bin/python -m deploy.grafana.dashboards_src --check  # exit 1 if stale
"""

from __future__ import annotations

import sys

from deploy.grafana.dashboards_src import rendered


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    if argv and not check:
        print(__doc__, file=sys.stderr)
        return 2
    stale = []
    for path, text in rendered().items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not check:
            path.write_text(text)
            print(f"wrote {path}")
    if check and stale:
        names = ", ".join(str(path) for path in stale)
        print(f"stale: {names}; run python -m deploy.grafana.dashboards_src", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
