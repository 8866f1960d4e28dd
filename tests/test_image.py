"""The container image, without a Docker engine.

The Dockerfile is checked statically (pinned bases, stages, non-root user, entrypoint, labels, no secrets or remote
fetches, a wheels-only runtime stage without pip or setuptools), and each check is shown to fail on a broken
Dockerfile. Then the Dockerfile's own pip steps (the builder's COPY + RUN, and the runtime stage's venv install) are
run against a temporary directory, with a fresh virtual environment that has pip and setuptools standing for the
base image's /usr/local, and the installed CLI is smoke-tested from the runtime's virtual environment, which, like
that stand-in base, is left with neither pip nor setuptools.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]

PINNED_BASE = re.compile(r"^python:\d+\.\d+\.\d+-slim(-[a-z]+)?$")
NUMERIC_USER = re.compile(r"^(\d+)(?::(\d+))?$")
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|python3?-dev|libc6?-dev|make|cmake|rustc|cargo)\b")
PIPE_TO_SHELL = re.compile(r"\b(curl|wget)\b[^|]*\|\s*(sudo\s+)?(ba|z|da)?sh\b")
REQUIRED_LABELS = ("title", "description", "source", "licenses", "version")
COMMANDS = ("get", "upload", "run", "runs", "prune", "dojo", "check")
PIP = re.compile(r"(?:\S*/)?pip3?(?:\.\d+)?")
PYTHON = re.compile(r"(?:\S*/)?python3?(?:\.\d+)?")
PACKAGING_TOOLS = ("pip", "setuptools", "wheel")
"""What `python -m venv` and the python image put beside an interpreter, and the runtime image keeps out."""


# ---------------------------------------------------------------------------------------------------------------------
# a small Dockerfile parser


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> tuple[list[Instruction], list[Stage]]:
    """Logical instructions (comments dropped, `\\` continuations joined) and the stages they fall into."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, args = " ".join(p for p in pending if p).partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
        pending = []
    assert not pending, "the Dockerfile ends inside a `\\` continuation"

    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append(instruction)
    return instructions, stages


def key_values(args: str) -> dict[str, str]:
    """`KEY=value KEY2="v 2"` (LABEL, ENV, ARG); the legacy `ENV KEY value` form too."""
    words = shlex.split(args)
    if len(words) >= 2 and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    pairs = {}
    for word in words:
        name, eq, value = word.partition("=")
        pairs[name] = value if eq else ""
    return pairs


def run_args(instruction: Instruction) -> str:
    """A RUN's shell command without its `--mount=`/`--network=` flags."""
    words = instruction.args.split(" ")
    while words and words[0].startswith("--"):
        words.pop(0)
    return " ".join(words).strip()


def simple_commands(command: str) -> list[list[str]]:
    """The words of each simple command of a shell line (split at `&&`, `||`, `;` and `|`)."""
    return [words for part in re.split(r"&&|\|\||[;|]", command) if (words := part.split())]


def pip_words(words: list[str]) -> list[str] | None:
    """The words after `pip` (`pip ...`, `/x/bin/pip ...`, `python -m pip ...`), None when this is not pip."""
    if PIP.fullmatch(words[0]):
        return words[1:]
    if PYTHON.fullmatch(words[0]) and words[1:3] == ["-m", "pip"]:
        return words[3:]
    return None


# ---------------------------------------------------------------------------------------------------------------------
# the static checks: each returns a list of problems, empty when the Dockerfile is fine


def base_problems(stages: list[Stage]) -> list[str]:
    problems = []
    if len(stages) < 2:
        problems.append(f"expected a multi-stage build, found {len(stages)} stage(s)")
    for stage in stages:
        if not PINNED_BASE.match(stage.base):
            problems.append(f"FROM {stage.base} is not an exact python:X.Y.Z-slim tag")
        if stage.base.endswith(":latest") or ":" not in stage.base:
            problems.append(f"FROM {stage.base} floats")
    if len({s.base for s in stages}) > 1:
        problems.append(f"stages use different bases: {sorted({s.base for s in stages})}")
    return problems


def runtime_problems(stages: list[Stage]) -> list[str]:
    if not stages:
        return ["no stages"]
    final = stages[-1]
    problems = []
    keywords = [i.keyword for i in final.instructions]

    users = final.all("USER")
    if not users:
        problems.append("the final stage has no USER")
    else:
        match = NUMERIC_USER.match(users[-1].args)
        if not match:
            problems.append(f"USER {users[-1].args} is not numeric uid[:gid]")
        elif int(match.group(1)) == 0 or (match.group(2) is not None and int(match.group(2)) == 0):
            problems.append(f"USER {users[-1].args} is root")
        if "ENTRYPOINT" in keywords and final.instructions.index(users[-1]) > keywords.index("ENTRYPOINT"):
            problems.append("USER comes after ENTRYPOINT")

    entrypoints = final.all("ENTRYPOINT")
    if not entrypoints or _json(entrypoints[-1].args) != ["report-exporter"]:
        problems.append('ENTRYPOINT is not ["report-exporter"]')
    cmds = final.all("CMD")
    if not cmds or _json(cmds[-1].args) != ["--help"]:
        problems.append('CMD is not ["--help"]')
    workdirs = final.all("WORKDIR")
    if not workdirs or workdirs[-1].args != "/data":
        problems.append("WORKDIR is not /data")

    env: dict[str, str] = {}
    for instruction in final.all("ENV"):
        env.update(key_values(instruction.args))
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"):
        if env.get(name) != "1":
            problems.append(f"ENV {name}=1 is missing")

    labels: dict[str, str] = {}
    for instruction in final.all("LABEL"):
        labels.update(key_values(instruction.args))
    for label in REQUIRED_LABELS:
        if not labels.get(f"org.opencontainers.image.{label}"):
            problems.append(f"label org.opencontainers.image.{label} is missing")
    if labels.get("org.opencontainers.image.licenses", "Apache-2.0") != "Apache-2.0":
        problems.append("the licenses label is not Apache-2.0")
    version_label = labels.get("org.opencontainers.image.version", "")
    arg = re.fullmatch(r"\$\{?(\w+)\}?", version_label)
    args: dict[str, str] = {}
    for instruction in final.all("ARG"):
        args.update(key_values(instruction.args))
    if not arg or arg.group(1) not in args:
        problems.append("the version label does not come from a build ARG")
    elif args[arg.group(1)] != VERSION:
        problems.append(f"ARG {arg.group(1)} defaults to {args[arg.group(1)]!r}, pyproject says {VERSION!r}")
    return problems


def wheels_only_problems(stages: list[Stage]) -> list[str]:
    final = stages[-1]
    problems = []
    installs = 0
    for instruction in final.instructions:
        if instruction.keyword in {"COPY", "ADD"} and "--from=" not in instruction.args:
            problems.append(f"line {instruction.line}: the final stage copies from the build context")
        if instruction.keyword != "RUN":
            continue
        command = run_args(instruction)
        if BUILD_TOOLS.search(command):
            problems.append(f"line {instruction.line}: build tools in the final stage")
        for words in simple_commands(command):
            arguments = pip_words(words)
            if arguments is None or "install" not in arguments:
                continue
            installs += 1
            shown = " ".join(words)
            if "--no-index" not in arguments or not {"--find-links", "-f"} & set(arguments):
                problems.append(f"line {instruction.line}: `{shown}` may reach an index")
            if "--no-cache-dir" not in arguments:
                problems.append(f"line {instruction.line}: `{shown}` keeps a pip cache")
            if {".", "-e", "--editable", "/src"} & set(arguments):
                problems.append(f"line {instruction.line}: `{shown}` installs from source")
    if not installs:
        problems.append("the final stage installs nothing")
    return problems


def packaging_tools_problems(stages: list[Stage]) -> list[str]:
    """pip and setuptools stay out of the runtime image: neither in its virtual environment nor in the base's
    interpreter (the python image installs both there), and every interpreter is named in full, since the image's
    PATH makes a bare `python` the virtual environment's as soon as it exists."""
    problems = []
    uninstalled: set[str] = set()
    for instruction in stages[-1].all("RUN"):
        for words in simple_commands(run_args(instruction)):
            if "/" not in words[0] and (PIP.fullmatch(words[0]) or PYTHON.fullmatch(words[0])):
                problems.append(f"line {instruction.line}: `{' '.join(words)}` runs whichever {words[0]} PATH finds")
            if PYTHON.fullmatch(words[0]) and words[1:3] == ["-m", "venv"] and "--without-pip" not in words:
                problems.append(f"line {instruction.line}: `{' '.join(words)}` puts pip and setuptools into the "
                                "virtual environment: add --without-pip")  # fmt: skip
            arguments = pip_words(words)
            if arguments is not None and "uninstall" in arguments:
                after = arguments[arguments.index("uninstall") + 1 :]
                uninstalled |= {word for word in after if not word.startswith("-")}
    missing = [tool for tool in PACKAGING_TOOLS if tool not in uninstalled]
    if missing:
        problems.append(f"the base's {', '.join(missing)} stay in the image: uninstall them after the install")
    return problems


def hygiene_problems(instructions: list[Instruction]) -> list[str]:
    problems = []
    for instruction in instructions:
        where = f"line {instruction.line}"
        text = f"{instruction.keyword} {instruction.args}"
        if instruction.keyword == "ADD" and re.search(r"\b(https?|ftp|git)[:@]", instruction.args):
            problems.append(f"{where}: ADD of a remote URL")
        if PIPE_TO_SHELL.search(text):
            problems.append(f"{where}: downloads piped to a shell")
        if re.search(r"(AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|DD_API_KEY|DOJO_API_KEY)\s*[=\s]\s*\S", text):
            problems.append(f"{where}: a credential is set")
        if re.search(r"\bAKIA[0-9A-Z]{16}\b", text):
            problems.append(f"{where}: an AWS access key id")
        if instruction.keyword in {"ARG", "ENV"}:
            for name, value in key_values(instruction.args).items():
                if SECRET_NAME.search(name) and value:
                    problems.append(f"{where}: {instruction.keyword} {name} carries a value")
    return problems


def dockerfile_problems(text: str) -> list[str]:
    instructions, stages = parse(text)
    problems = base_problems(stages) + hygiene_problems(instructions)
    if stages:
        problems += runtime_problems(stages) + wheels_only_problems(stages) + packaging_tools_problems(stages)
    return problems


def _json(args: str) -> object:
    try:
        return json.loads(args)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------------------------------
# static tests


def test_dockerfile_passes_every_static_check() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text(encoding="utf-8")) == []


def test_the_parser_joins_continuations_and_finds_both_stages() -> None:
    instructions, stages = parse(DOCKERFILE.read_text(encoding="utf-8"))
    assert [s.name for s in stages] == ["builder", None]
    assert all(not i.args.endswith("\\") for i in instructions)
    final_runs = [run_args(i) for i in stages[-1].all("RUN")]
    assert any("--find-links /wheels report-exporter" in r for r in final_runs), final_runs


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("python:3.11.11-slim-bookworm AS builder", "python:latest AS builder", "not an exact"),
        ("python:3.11.11-slim-bookworm\n", "python:3.11-slim\n", "not an exact"),
        ("USER 10001:10001", "USER app", "not numeric"),
        ("USER 10001:10001", "USER 0:0", "is root"),
        ("USER 10001:10001\n", "", "no USER"),
        ('ENTRYPOINT ["report-exporter"]', 'ENTRYPOINT ["python", "-m", "exporter"]', "ENTRYPOINT"),
        ("WORKDIR /data", "WORKDIR /app", "WORKDIR"),
        ("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=0", "PYTHONUNBUFFERED"),
        ('org.opencontainers.image.licenses="Apache-2.0"', "org.opencontainers.image.licenses=MIT", "Apache-2.0"),
        ('org.opencontainers.image.source="${SOURCE}" \\\n', "", "image.source is missing"),
        ('image.version="${VERSION}"', 'image.version="0.1.0"', "build ARG"),
        ("ARG VERSION=0.1.0", "ARG VERSION=9.9.9", "pyproject says"),
        ("ARG VERSION=0.1.0", "ARG VERSION=0.1.0\nARG DD_API_KEY=abc123", "credential is set"),
        ("ARG VERSION=0.1.0", "ARG VERSION=0.1.0\nENV S3_SECRET=hunter2", "carries a value"),
        ("WORKDIR /data", "WORKDIR /data\nADD https://example.com/x.tgz /x", "remote URL"),
        ("WORKDIR /data", "WORKDIR /data\nRUN curl -fsSL https://x.sh | sh", "piped to a shell"),
        ("/usr/local/bin/python -m venv", "apt-get install -y gcc && /usr/local/bin/python -m venv", "build tools"),
        ("--no-cache-dir --no-index --find-links /wheels report-exporter", "--no-cache-dir .", "installs from source"),
        ("--no-cache-dir --no-index", "--no-index", "pip cache"),
        ("--no-index --find-links /wheels report-exporter", "report-exporter", "may reach an index"),
        ("USER 10001:10001", "COPY exporter /src/exporter\nUSER 10001:10001", "copies from the build context"),
        ("-m venv --without-pip /opt/venv", "-m venv /opt/venv", "add --without-pip"),
        ("uninstall --yes --no-cache-dir pip setuptools wheel", "uninstall --yes pip wheel", "setuptools stay"),
        ("pip uninstall --yes --no-cache-dir pip setuptools wheel", "pip --version", "pip, setuptools, wheel stay"),
        ("/usr/local/bin/python -m pip uninstall", "python -m pip uninstall", "runs whichever python PATH finds"),
        ("/usr/local/bin/python -m pip --python /opt/venv/bin/python install", "pip install", "whichever pip"),
    ],
)
def test_each_static_check_fails_on_a_broken_dockerfile(old: str, new: str, expected: str) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert old in text, f"the mutation no longer applies: {old!r}"
    if old.startswith("python:3.11.11-slim-bookworm\n"):
        head, _, tail = text.rpartition(old)  # the final stage's FROM
        broken = head + new + tail
    else:
        broken = text.replace(old, new, 1)
    problems = dockerfile_problems(broken)
    assert any(expected in p for p in problems), problems


def test_user_after_entrypoint_is_flagged() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("USER 10001:10001\n", "")
    problems = dockerfile_problems(text + "USER 10001:10001\n")
    assert any("after ENTRYPOINT" in p for p in problems), problems


def test_dockerignore_keeps_local_state_out_and_build_inputs_in() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for required in (".venv", ".git", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache", "demo", "runs"):
        assert required in patterns, f"{required} is not in .dockerignore"
    assert any(p.startswith("docs/") for p in patterns), "docs build artefacts are not ignored"
    assert any("__pycache__" in p for p in patterns)
    assert not any(p.startswith("!") for p in patterns)

    _, stages = parse(DOCKERFILE.read_text(encoding="utf-8"))
    for source in copied_sources(stages[0]):
        hit = [p for p in patterns if fnmatch(source, p) or fnmatch(source, p.rstrip("/") + "/*")]
        assert not hit, f"the builder copies {source} but .dockerignore drops it ({hit})"


# ---------------------------------------------------------------------------------------------------------------------
# the install steps, for real


def copied_sources(stage: Stage) -> list[str]:
    sources = []
    for instruction in stage.all("COPY"):
        words = [w for w in instruction.args.split() if not w.startswith("--")]
        assert "--from=" not in instruction.args, "the builder copies from another stage"
        sources += words[:-1]
    return sources


def localize(command: str, mapping: dict[str, Path], scratch: Path, *, python: str | None = sys.executable) -> str:
    """The Dockerfile's command with image paths mapped into `scratch` and a bare `python` as `python`; with
    `python=None`, a bare `python` or `pip` is refused (it would be whichever PATH finds on this machine)."""
    for image_path, local in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
        command = re.sub(rf"(?<![\w/]){re.escape(image_path)}(?=[/\s]|$)", str(local), command)
    if python is not None:
        command = re.sub(r"(?<![\w/.-])python3?(?=\s)", shlex.quote(python), command)
    for words in simple_commands(command):
        bare = "/" not in words[0] and (PIP.fullmatch(words[0]) or PYTHON.fullmatch(words[0]))
        assert not bare, f"refusing to run a bare {words[0]}: {command}"
    for word in shlex.split(command):
        if word.startswith("/") and word != python:
            assert Path(word).is_relative_to(scratch), f"refusing to run a command that touches {word}: {command}"
    return command


def test_dockerfile_install_steps_give_a_working_cli(tmp_path: Path) -> None:
    """The builder's COPY + `pip wheel`, then the runtime stage's venv install from those wheels only, which leaves
    pip and setuptools neither in the venv nor in the base's interpreter (a venv with both stands for /usr/local)."""
    _, stages = parse(DOCKERFILE.read_text(encoding="utf-8"))
    builder, final = stages[0], stages[-1]
    src, wheels, venv, out = tmp_path / "src", tmp_path / "wheels", tmp_path / "venv", tmp_path / "out"
    base = tmp_path / "base"
    mapping = {"/wheels": wheels, "/opt/venv": venv, "/src": src, "/usr/local": base}
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PIP_TARGET"}}
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}

    # COPY: only what the builder copies, minus what .dockerignore would drop
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for source in copied_sources(builder):
        origin = ROOT / source
        assert origin.exists(), f"the builder copies {source}, which does not exist"
        if origin.is_dir():
            shutil.copytree(origin, src / source, ignore=ignore)
        else:
            shutil.copy2(origin, src / source)

    def sh(command: str, cwd: Path) -> None:
        done = subprocess.run(
            command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    builder_runs = [run_args(i) for i in builder.all("RUN")]
    assert builder_runs, "the builder stage has no RUN"
    for command in builder_runs:
        sh(localize(command, mapping, tmp_path), cwd=src)

    built = sorted(p.name for p in wheels.iterdir())
    assert f"report_exporter-{VERSION}-py3-none-any.whl" in built, built
    assert all(name.endswith(".whl") for name in built), f"not everything was built into a wheel: {built}"

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    # the base image's interpreter: pip and setuptools installed beside it, as in the python image
    sh(f"{shlex.quote(sys.executable)} -m venv {shlex.quote(str(base))}", cwd=tmp_path)
    bundled = ["pip", "setuptools"] if sys.version_info < (3, 12) else ["pip"]  # ensurepip's setuptools ended in 3.12
    assert packaging_tools_in(base / "bin" / "python", run) == bundled

    install_runs = [run_args(i) for i in final.all("RUN") if "pip" in i.args or "venv" in i.args]
    assert install_runs, "the final stage has no install RUN"
    for command in install_runs:
        sh(localize(command, mapping, tmp_path, python=None), cwd=tmp_path)

    cli = venv / "bin" / "report-exporter"
    python = venv / "bin" / "python"

    assert packaging_tools_in(python, run) == [], "pip or setuptools in the runtime's virtual environment"
    assert packaging_tools_in(base / "bin" / "python", run) == [], "pip or setuptools left beside the base's python"
    assert not [p.name for p in (*venv.glob("bin/pip*"), *base.glob("bin/pip*"), *base.glob("bin/wheel*"))]
    shebang = cli.read_text(encoding="utf-8").splitlines()[:3]  # a long path is exec'd by /bin/sh on line 2
    assert shebang[0] == f"#!{python}" or any(str(python) in line for line in shebang[1:]), shebang

    where = run(python, "-c", "import exporter; print(exporter.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv), f"exporter imported from {where.stdout.strip()}"

    version = run(cli, "--version")
    assert version.returncode == 0, version.stderr
    assert VERSION in version.stdout

    helped = run(cli, "--help")
    assert helped.returncode == 0, helped.stderr
    listed = set(re.findall(r"^\W*(\w+)\s{2,}", helped.stdout, flags=re.MULTILINE))
    assert set(COMMANDS) <= listed, helped.stdout

    got = run(cli, "get", "--sample", "--out", out)
    assert got.returncode == 0, got.stderr[-3000:]
    run_dir = Path(got.stdout.strip().splitlines()[-1])
    assert run_dir.parent == out, got.stdout
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest


def packaging_tools_in(python: Path, run: Callable[..., subprocess.CompletedProcess[str]]) -> list[str]:
    """Which of PACKAGING_TOOLS `python` can import or lists as installed (setuptools' `_distutils_hack` counts)."""
    probe = (
        "import importlib.metadata as m, importlib.util as u, json, sys\n"
        "names = {d.metadata['Name'].lower() for d in m.distributions()}\n"
        "found = [n for n in sys.argv[1:] if n in names or u.find_spec(n) is not None]\n"
        "found += ['setuptools'] * (u.find_spec('_distutils_hack') is not None and 'setuptools' not in found)\n"
        "print(json.dumps(sorted(found)))"
    )
    done = run(python, "-I", "-c", probe, *PACKAGING_TOOLS)
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout)
    return found
