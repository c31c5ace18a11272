"""The baseline extractors, each installed into its own virtualenv under bench/.venvs.

A baseline's dependencies (web3, polars, old pins) must not touch chaintap's, so
each tool gets `bench/.venvs/<name>` (gitignored), made on first use with
`python -m venv` and `pip install <pinned package>` from the package registry.
`ensure_tool` answers either a ready `Tool` or the reason it cannot run here, which
the suite prints as "not measured: <reason>" instead of a figure.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

VENVS = Path(__file__).resolve().parent / ".venvs"
DRIVER = Path(__file__).resolve().parent / "tool_driver.py"
# pip installs of a tool with its dependencies took 10-40 s here; ten minutes
# covers a slow registry without hanging the suite on one that never answers.
INSTALL_TIMEOUT_S = 600


@dataclass(frozen=True)
class ToolSpec:
    """How to install one baseline: the pinned package, interpreters that can run
    it (first found wins; "" is the Python running the suite), and an import that
    proves the install works."""

    name: str
    package: str
    pythons: tuple[str, ...]
    check: str
    why_python: str = ""


@dataclass(frozen=True)
class Tool:
    """A baseline ready to run: its venv's interpreter and installed version."""

    name: str
    python: Path
    version: str


TOOLS = {
    "cryo": ToolSpec(
        name="cryo",
        package="cryo==0.3.2",  # the Python bindings of the Rust extractor
        pythons=("",),
        check="import cryo; print(cryo.__version__)",
    ),
    "ethereum-etl": ToolSpec(
        name="ethereum-etl",
        package="ethereum-etl==2.4.2",
        pythons=("3.10", "3.9", "3.8"),
        check=(
            "import ethereumetl.cli, importlib.metadata as m; "
            "print(m.version('ethereum-etl'))"
        ),
        why_python=(
            "ethereum-etl 2.4.2 pins web3 5 and parsimonious 0.8, which fails to "
            "import on Python 3.11+ (inspect.getargspec is gone)"
        ),
    ),
}


def ensure_tool(name: str) -> Tool | str:
    """The tool `name` ready to run, installing it first if needed; else why not."""
    spec = TOOLS[name]
    venv = VENVS / name
    python = venv / "bin" / "python"
    if python.exists():
        version = _check(python, spec.check)
        if version is not None:
            return Tool(name, python, version)
        shutil.rmtree(venv)  # broken or half-made: start again

    base = _interpreter(spec.pythons)
    if base is None:
        wanted = ", ".join(f"python{v}" for v in spec.pythons)
        return f"no interpreter for it here ({wanted}): {spec.why_python}"
    problem = _install(base, venv, spec.package)
    if problem:
        shutil.rmtree(venv, ignore_errors=True)
        return f"`pip install {spec.package}` failed: {problem}"
    version = _check(python, spec.check)
    if version is None:
        return f"{spec.package} installed but does not import: {spec.why_python}"
    return Tool(name, python, version)


def _interpreter(versions: tuple[str, ...]) -> str | None:
    """The first working interpreter of `versions`, on PATH or under pyenv."""
    for version in versions:
        if not version:
            return sys.executable
        root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
        candidates = [shutil.which(f"python{version}") or ""]
        candidates += sorted(glob.glob(f"{root}/versions/{version}.*/bin/python"))
        for candidate in candidates:
            if candidate and _runs(candidate):
                return candidate
    return None


def _runs(python: str) -> bool:
    # A pyenv shim is on PATH even when its version is not selected, and then fails.
    done = subprocess.run(
        [python, "-c", "pass"], capture_output=True, timeout=30, check=False
    )
    return done.returncode == 0


def _install(base: str, venv: Path, package: str) -> str:
    """Make the venv and pip-install `package`; an empty string when it worked."""
    commands = [
        [base, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "--quiet", package],
    ]
    for command in commands:
        done = subprocess.run(
            command, capture_output=True, text=True,
            timeout=INSTALL_TIMEOUT_S, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            lines = [x for x in done.stderr.splitlines() if not x.startswith("WARNING")]
            return (lines or ["no output"])[-1].strip()
    return ""


def _check(python: Path, code: str) -> str | None:
    done = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 else None
