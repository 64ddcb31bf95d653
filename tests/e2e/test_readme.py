"""The README's commands, run as written against the platform `make run` starts with nothing
configured (SQLite, the file broker, a real worker and beat), so that a new user who copies
them meets no error.

Which blocks run: every fenced block of README.md whose info string is `sh`, in the README's
order. A block that cannot run here is marked, on the line just before its opening fence, with

    <!-- readme-test: skip: <why> -->

for instance the `make` commands themselves, or an example to adapt (a PostgreSQL host of the
reader's, an API on the internet, a Stripe account). A marker with no reason, or not followed by
an `sh` block, fails the test: nothing is skipped by guesswork.

How they run: each block in a `bash` of its own with `set -eo pipefail` (any failing command
fails its block), from a directory laid out like the repository's root (`.venv`, `manage.py`,
as the README's `.venv/bin/python manage.py ...` expects), with the server's `PORT` and
`LANDED_DATA_DIR`, the shell variables the blocks before it set (`API`, `KEY`, ...), and the
operator's password twice on stdin for the one command that prompts (`create_operator`).
"""

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.landed.test_run_command import base_env, free_port, running

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SKIP_MARKER = re.compile(r"<!--\s*readme-test:\s*skip:\s*(?P<why>.*?)\s*-->")
OPERATOR_PASSWORD = "an-operator-passphrase-2026"
BLOCK_TIMEOUT_SECONDS = 180

# The variables a block sets are handed to the next through a file: `declare -p` of the names
# that the block's shell did not start with.
PROLOGUE = """set -eo pipefail
__readme_names_before=$(compgen -v)
if [ -s "$README_TEST_STATE" ]; then source "$README_TEST_STATE"; fi
"""
EPILOGUE = """
__readme_names=$(comm -13 <(sort <<<"$__readme_names_before") <(compgen -v | sort) \\
  | grep -v '^__readme_' || true)
if [ -n "$__readme_names" ]; then declare -p $__readme_names >"$README_TEST_STATE"; fi
"""

# What a block prints when it worked, found by a piece of its text: (text in the block,
# pattern its output must match). Each text must pick exactly one runnable block.
EXPECTED_OUTPUT = [
    ("$API/auth/signup", r'"access_token"'),
    ("$API/auth/logout", r"\b20[04]\s*$"),
    ("$API/connectors/$CONN/sync", r"(?m)^succeeded$"),
    ("from demo.orders", r"\b3000\b"),
    ('["next_sync_at"]', r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"),
    ("$API/syncs/stats", r'"items"'),
    ("$API/alerts/policies", r'"unread":\s*\d'),
    ("$API/billing/usage", r'"plan"'),
    ("create_operator", r"Created operator ops@example\.com\."),
    ("DELETE $API/auth/api-keys", r"\b401\s*$"),
]


@dataclass
class Block:
    line: int  # of the opening fence, 1-based
    heading: str
    text: str
    skip_reason: str | None

    def __str__(self) -> str:
        return f"README.md line {self.line} ({self.heading})"


def readme_blocks(markdown: str) -> list[Block]:
    """The README's `sh` blocks, in order, each with its skip marker's reason if it has one."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    heading = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if "readme-test" in line:
            marker = SKIP_MARKER.fullmatch(line.strip())
            assert marker and marker["why"], (
                f"README.md line {index + 1}: a marker reads <!-- readme-test: skip: <why> -->"
            )
            following = index + 1
            while following < len(lines) and not lines[following].strip():
                following += 1
            assert following < len(lines) and lines[following].strip() == "```sh", (
                f"README.md line {index + 1}: a skip marker stands just before an ```sh block"
            )
        if line.startswith("```"):
            info = line[3:].strip()
            end = lines.index("```", index + 1)
            if info == "sh":
                before = next((p for p in reversed(lines[:index]) if p.strip()), "")
                skipped = SKIP_MARKER.fullmatch(before.strip())
                blocks.append(
                    Block(
                        line=index + 1,
                        heading=heading,
                        text="\n".join(lines[index + 1 : end]) + "\n",
                        skip_reason=skipped["why"] if skipped else None,
                    )
                )
            index = end
        index += 1
    return blocks


@dataclass
class Server:
    url: str
    env: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """`make run` as its script: scripts/run.sh with nothing configured but a free port and a
    data directory of the test's."""
    tmp = tmp_path_factory.mktemp("readme")
    port = free_port()
    env = base_env(tmp, port)
    # The suite's own defaults (pytest-env) are not a user's: run.sh sets its loopback ones.
    for name in ("ALLOW_PRIVATE_NETWORKS", "WEBHOOK_REQUIRE_HTTPS"):
        env.pop(name, None)
    log = tmp / "run.log"
    with running([str(ROOT / "scripts" / "run.sh")], env, port, log) as url:
        yield Server(url=url, env=env, log=log)


def run_block(block: Block, server: Server, workdir: Path, state: Path) -> tuple[int, str, str]:
    script = workdir / f"block-{block.line}.sh"
    script.write_text(PROLOGUE + block.text + EPILOGUE)
    process = subprocess.Popen(
        ["bash", str(script)],
        cwd=workdir,
        env={**server.env, "README_TEST_STATE": str(state)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # No controlling terminal: a password prompt reads stdin, as it does in CI.
        start_new_session=True,
    )
    try:
        out, err = process.communicate(
            f"{OPERATOR_PASSWORD}\n{OPERATOR_PASSWORD}\n", timeout=BLOCK_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"{block} did not finish within {BLOCK_TIMEOUT_SECONDS} s:\n{out}\n{err}")
    return process.returncode, out, err


def test_the_readme_opens_with_make_run_and_make_test():
    first = readme_blocks(README.read_text())[0]
    assert [line.split("#")[0].strip() for line in first.text.splitlines()] == [
        "make run",
        "make test",
    ]


def test_the_readme_commands_run_as_written(server, tmp_path):
    blocks = readme_blocks(README.read_text())
    runnable = [block for block in blocks if block.skip_reason is None]
    for needle, _ in EXPECTED_OUTPUT:
        holders = [str(block) for block in runnable if needle in block.text]
        assert len(holders) == 1, f"{needle!r} is expected in one runnable block: {holders}"

    # The repository's root as the README's commands see it, without writing into it (the
    # first block's cookie jar lands here).
    workdir = tmp_path / "root"
    workdir.mkdir()
    (workdir / ".venv").symlink_to(Path(sys.prefix))
    (workdir / "manage.py").symlink_to(ROOT / "manage.py")
    state = tmp_path / "state.sh"

    for block in runnable:
        code, out, err = run_block(block, server, workdir, state)
        context = f"{block} exited {code}\n--- stdout\n{out}\n--- stderr\n{err}"
        assert code == 0, context + "\n--- server log\n" + server.log.read_text()[-3000:]
        for needle, pattern in EXPECTED_OUTPUT:
            if needle in block.text:
                assert re.search(pattern, out), f"{pattern!r} not in the output of {context}"

    log = server.log.read_text()
    assert "No hostname was supplied" not in log


def test_an_operator_created_with_only_the_data_dir_signs_in_to_the_admin(server):
    """manage.py beside `make run`, with nothing configured but the data directory: it finds
    the server's database and secret key itself."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANDED_DATA_DIR": server.env["LANDED_DATA_DIR"],
        "LANDED_OPERATOR_PASSWORD": OPERATOR_PASSWORD,
    }
    created = subprocess.run(
        [sys.executable, "manage.py", "create_operator", "--email", "admin@example.com"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    assert "Created operator admin@example.com." in created.stdout

    browser = requests.Session()
    login_page = browser.get(f"{server.url}/admin/login/", timeout=10)
    assert login_page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)
    assert token, login_page.text[:500]
    signed_in = browser.post(
        f"{server.url}/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": token[1],
            "username": "admin@example.com",
            "password": OPERATOR_PASSWORD,
            "next": "/admin/",
        },
        timeout=10,
    )
    assert signed_in.status_code == 200
    assert signed_in.url == f"{server.url}/admin/", signed_in.text[:2000]
    assert "Log out" in signed_in.text
