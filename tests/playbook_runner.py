"""Running the project's Ansible playbooks from tests, as a user runs them: `ansible-playbook` in a subprocess.

Each run gets its own ANSIBLE_HOME (no state shared through ~/.ansible) and plain, uncoloured output; the play
recap is parsed so tests can say "a second run changes nothing" with the number Ansible itself reports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PLAYBOOKS = REPO / "playbooks"
EXAMPLE_INVENTORY = PLAYBOOKS / "inventory" / "example"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
_RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$", re.MULTILINE)


@dataclass(frozen=True)
class PlaybookRun:
    returncode: int
    output: str  # stdout and stderr, interleaved as a user would see them
    recap: dict[str, dict[str, int]]  # host -> {"ok": .., "changed": .., "failed": ..}

    def changed(self, host: str) -> int:
        return self.recap[host]["changed"]

    def tail(self, chars: int = 4000) -> str:
        return self.output[-chars:]


def run_playbook(
    playbook: str,
    work_dir: Path,
    extra_vars: dict[str, Any] | None = None,
    *,
    inventory: Path = EXAMPLE_INVENTORY,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    timeout: float = 600,
) -> PlaybookRun:
    """Run playbooks/<playbook> with the inventory and extra vars (passed as a file, like `-e @vars.json`)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    command = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(PLAYBOOKS / playbook), *args]
    if extra_vars is not None:
        vars_file = work_dir / f"vars-{len(list(work_dir.glob('vars-*.json')))}.json"
        vars_file.write_text(json.dumps(extra_vars))
        command += ["-e", f"@{vars_file}"]
    environment = {
        **os.environ,
        "ANSIBLE_HOME": str(work_dir / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(work_dir / "ansible-tmp"),
        "ANSIBLE_REMOTE_TMP": str(work_dir / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "PATH": f"{ANSIBLE_PLAYBOOK.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **(env or {}),
    }
    completed = subprocess.run(
        command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    recap = {
        match["host"]: {key: int(value) for key, value in (pair.split("=") for pair in match["counts"].split())}
        for match in _RECAP.finditer(completed.stdout)
    }
    return PlaybookRun(completed.returncode, completed.stdout, recap)
