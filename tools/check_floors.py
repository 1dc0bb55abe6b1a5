"""Check that this environment runs the declared floors: each direct dependency in pyproject.toml with a `>=`
floor (the `test` extra included) is installed at that floor's release (`torch>=2.11` accepts 2.11.0+cu130, not
2.12.0). `tox -e lowest` runs it before the tests, so an environment that was not resolved lowest-direct (tox-uv
missing, say) fails instead of passing on newer releases. `--json PATH` writes the interpreter and every
installed distribution's version there (the record in baselines/cpu/dependency-floors/)."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def floors(pyproject: Path = PYPROJECT) -> dict[str, Version]:
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = list(project["dependencies"]) + list(project.get("optional-dependencies", {}).get("test", []))
    out = {}
    for line in lines:
        req = Requirement(line)
        lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
        if lows:
            out[req.name] = max(lows)
    return out


def at_floor(installed: Version, floor: Version) -> bool:
    n = len(floor.release)
    return installed.release[:n] == floor.release[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the interpreter and installed versions here")
    args = parser.parse_args(argv)
    bad = []
    for name, floor in sorted(floors().items()):
        try:
            installed = Version(version(name))
        except PackageNotFoundError:
            bad.append(f"{name}: not installed (floor {floor})")
            continue
        ok = at_floor(installed, floor)
        print(f"{name:<18} floor {str(floor):<8} installed {installed}{'' if ok else '  <- not the floor'}")
        if not ok:
            bad.append(f"{name}: {installed} installed, the floor is {floor}")
    if args.json:
        installed_all = {d.metadata["Name"].lower(): d.version for d in distributions() if d.metadata["Name"]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(python=platform.python_version(), platform=platform.platform(),
                                             floors={k: str(v) for k, v in sorted(floors().items())},
                                             installed=dict(sorted(installed_all.items()))), indent=1) + "\n")
    if bad:
        print("not at the declared floors (was this environment resolved lowest-direct? `tox -e lowest` needs "
              "tox-uv):\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
