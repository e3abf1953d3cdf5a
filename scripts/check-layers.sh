#!/usr/bin/env bash
# Refuses an include that reaches up the module map (docs/architecture.md): each module may
# include only itself and the modules below it. The build enforces the same for calls (each
# module's unit tests link that module alone); this catches inline code and types as well, and
# names the offending line.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import pathlib, re, sys

# Module -> the modules it may include (itself included). Keep in step with src/meson.build.
allowed = {
    "core": {"core"},
    "tls": {"core", "tls"},
    "http": {"core", "http"},
    "shutdown": {"core", "shutdown"},
    "config": {"core", "tls", "config"},
    "diag": {"core", "tls", "shutdown", "config", "diag"},
    "proxy": {"core", "tls", "http", "shutdown", "config", "diag", "proxy"},
}
include = re.compile(r'^\s*#\s*include\s+"ringgate/([a-z_]+)/')
problems = []
for root in ("src", "include/ringgate"):
    for path in sorted(pathlib.Path(root).rglob("*")):
        if path.suffix not in (".h", ".cc") or len(path.relative_to(root).parts) < 2:
            continue
        module = path.relative_to(root).parts[0]
        if module not in allowed:
            problems.append(f"{path}: folder '{module}' is not in the module map")
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = include.match(line)
            if m and m.group(1) not in allowed[module]:
                problems.append(f"{path}:{number}: {module} must not include {m.group(1)}: "
                                f"{line.strip()}")
for p in problems:
    print("check-layers:", p, file=sys.stderr)
if problems:
    sys.exit(1)
print("check-layers: every include points down the module map")
PY
