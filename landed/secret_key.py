"""The secret key kept in the data directory when SECRET_KEY is not set.

`scripts/run.sh` (the server, workers and beat it starts) and, on the embedded default, the
settings module, which every management command loads, read the same file, so that
`manage.py` run beside `make run` signs and encrypts with the key the server uses. Plain
Python with no Django import: the settings module calls it while it is being loaded.

`python -m landed.secret_key DATA_DIR` prints the key (for scripts/run.sh).
"""

import os
import secrets
import sys
import tempfile
from pathlib import Path

KEY_FILE_NAME = "secret_key"


def data_dir_secret_key(data_dir: Path) -> str:
    """The key in `data_dir/secret_key`, generated once (readable by its owner only) if the file
    is missing or empty. Safe when several processes start at once: the key is written to a
    private temporary file and linked into place, so the first writer wins and no reader sees
    a half-written key."""
    key_file = data_dir / KEY_FILE_NAME
    key = _read(key_file)
    if key:
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600 whatever the umask.
    fd, temporary = tempfile.mkstemp(dir=data_dir, prefix=f".{KEY_FILE_NAME}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(temporary, key_file)
        except FileExistsError:
            # Another process won the race, or an empty file was left behind by a crash:
            # only the latter is replaced.
            if not _read(key_file):
                os.replace(temporary, key_file)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return _read(key_file)


def _read(key_file: Path) -> str:
    try:
        return key_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


if __name__ == "__main__":
    print(data_dir_secret_key(Path(sys.argv[1])))
