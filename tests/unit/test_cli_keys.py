"""What `dosewise keys` prints for a person to paste: a command that runs in their shell as it is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CODE = "from dosewise.cli.keys import shell_command; print(shell_command())"
VENV_BIN = Path(sys.executable).parent


def printed_command(cwd: Path, path: str) -> str:
    env = os.environ | {"PATH": path}
    return subprocess.run([sys.executable, "-c", CODE], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_venvs_script_by_its_path_when_dosewise_is_not_on_path() -> None:
    root = VENV_BIN.parent.parent  # the folder `make run` runs in: .venv/bin/dosewise from there
    assert printed_command(root, "/usr/bin:/bin") == str((VENV_BIN / "dosewise").relative_to(root))


def test_the_bare_name_when_the_venv_is_on_path() -> None:
    assert printed_command(Path("/"), f"{VENV_BIN}:/usr/bin:/bin") == "dosewise"
