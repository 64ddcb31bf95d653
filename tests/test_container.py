"""The container image and compose file hold what the platform needs to start.

No container engine runs here, so the Dockerfile and compose.yaml are read as text: an image
that lacks a package `INSTALLED_APPS` names fails at its first start (it once shipped without
`webhooks` and `billing`), and a compose service that names a missing script or a queue no task
is routed to starts a process that does nothing useful."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from django.conf import settings

from landed.queues import Queue

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


# --- Reading the files ---------------------------------------------------------------------
def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        found.append((keyword.upper(), rest.strip()))
    return found


def copied_paths(text: str) -> set[str]:
    """The build-context paths the Dockerfile's COPY and ADD lines bring into the image
    ("." when the whole context is copied). Copies from another stage are not the context's."""
    paths: set[str] = set()
    for keyword, rest in _instructions(text):
        if keyword not in {"COPY", "ADD"}:
            continue
        # The JSON form (COPY ["src", "dest"]) or the shell form.
        args = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        if any(a.startswith("--from") for a in args):
            continue
        sources = [a for a in args if not a.startswith("--")][:-1]
        paths.update(str(PurePosixPath(s)).rstrip("/") or "." for s in sources)
    return paths


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (plain patterns only)."""
    ignore = ROOT / ".dockerignore"
    if not ignore.exists():
        return False
    patterns = [
        p.strip().rstrip("/")
        for p in ignore.read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    return any(fnmatch.fnmatch(path, p) for p in patterns if not p.startswith("!"))


def in_image(path: str, copied: set[str]) -> bool:
    if ignored(path):
        return False
    parts = PurePosixPath(path).parts
    return "." in copied or any(str(PurePosixPath(*parts[:n])) in copied for n in range(1, 5))


def project_apps() -> set[str]:
    """Top-level packages of this repository that INSTALLED_APPS names."""
    tops = {app.split(".")[0] for app in settings.INSTALLED_APPS}
    return {top for top in tops if (ROOT / top / "__init__.py").exists()}


def distributed_packages() -> set[str]:
    """Top-level packages pyproject.toml's [tool.setuptools.packages.find] includes."""
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    tops = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    return {top for top in tops if any(fnmatch.fnmatch(top, pattern) for pattern in include)}


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def built_services() -> dict[str, dict[str, Any]]:
    """The compose services that run this repository's image."""
    return {name: s for name, s in compose()["services"].items() if "build" in s}


def queues_in(argv: list[str]) -> set[str]:
    names: set[str] = set()
    for i, arg in enumerate(argv):
        if arg in {"--queues", "-Q"} and i + 1 < len(argv):
            names.update(argv[i + 1].split(","))
        elif arg.startswith("--queues="):
            names.update(arg.split("=", 1)[1].split(","))
    return names


def image_command() -> list[str]:
    (cmd,) = [rest for keyword, rest in _instructions(DOCKERFILE.read_text()) if keyword == "CMD"]
    parsed = json.loads(cmd) if cmd.startswith("[") else shlex.split(cmd)
    assert isinstance(parsed, list)
    return [str(a) for a in parsed]


# --- The image -----------------------------------------------------------------------------
def test_the_reader_sees_what_an_old_dockerfile_left_out() -> None:
    # The Dockerfile of the first compose setup: the reader must catch its missing packages.
    old = (
        "FROM python:3.11-slim\nWORKDIR /app\nCOPY pyproject.toml README.md ./\n"
        "COPY landed ./landed\nCOPY connectors \\\n  ./connectors\nCOPY syncs ./syncs\n"
    )
    copied = copied_paths(old)
    assert {"landed", "connectors", "syncs"} <= copied
    assert not in_image("webhooks", copied) and not in_image("billing", copied)
    assert in_image("billing", copied_paths("COPY . /app\n"))


@pytest.mark.parametrize("package", sorted(project_apps() | distributed_packages()))
def test_every_project_package_is_copied_into_the_image(package: str) -> None:
    assert in_image(package, copied_paths(DOCKERFILE.read_text())), (
        f"{package} is an installed app or a distributed package, but the Dockerfile does not "
        "copy it: the image would fail to start"
    )


def test_the_project_packages_are_the_ones_found() -> None:
    # A guard on the guard: the packages above come from settings and pyproject, not nowhere.
    assert {"landed", "connectors", "syncs", "webhooks", "billing"} <= project_apps()
    assert project_apps() <= distributed_packages()


def test_what_the_image_installs_and_runs_is_copied() -> None:
    copied = copied_paths(DOCKERFILE.read_text())
    for path in ("pyproject.toml", "README.md", "manage.py"):
        assert in_image(path, copied), path
    script = image_command()[0]
    assert (ROOT / script).is_file() and in_image(script, copied), script


# --- Compose -------------------------------------------------------------------------------
def test_compose_services_run_scripts_that_exist_in_the_image() -> None:
    copied = copied_paths(DOCKERFILE.read_text())
    for name, service in built_services().items():
        command = service.get("command") or image_command()
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        script = argv[0]
        assert (ROOT / script).is_file(), f"{name}: {script} does not exist"
        assert in_image(script, copied), f"{name}: {script} is not copied into the image"
        if script == "scripts/celery.sh":
            # The subcommands scripts/celery.sh's `case` accepts.
            accepted = set(re.findall(r"^\s*(\w+)\)", (ROOT / script).read_text(), re.M))
            assert argv[1] in accepted, f"{name}: scripts/celery.sh has no {argv[1]!r}"


def test_compose_workers_consume_exactly_the_platforms_queues() -> None:
    known = {q.value for q in Queue}
    consumed: set[str] = set()
    for name, service in built_services().items():
        command = service.get("command") or []
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        if "worker" not in argv:
            continue
        queues = queues_in(argv)
        assert queues, f"{name}: a worker without --queues listens only on Celery's default"
        assert queues <= known, f"{name}: no such queue {sorted(queues - known)}"
        consumed |= queues
    # Every queue has a worker: a task routed to a queue nobody consumes waits forever.
    assert consumed == known


def test_run_sh_workers_consume_the_platforms_queues() -> None:
    text = (ROOT / "scripts" / "run.sh").read_text()
    named = {q for match in re.findall(r"--queues\s+(\S+)", text) for q in match.split(",")}
    assert named == {q.value for q in Queue}


def test_compose_services_depend_on_services_that_exist() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on a missing {dependency}"
