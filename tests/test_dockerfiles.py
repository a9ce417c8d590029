"""The images: one Dockerfile, a shared build stage, targets `edge` (edge and coordinator) and `operator`.

No Docker daemon is needed: the Dockerfile is parsed and checked against the repository (what the
build context holds after .dockerignore, what pyproject.toml installs, what the CLI offers).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
TARGETS = ("edge", "operator")
EXPECTED_PORTS = {"operator": {8080, 9090}, "edge": {7070, 7171}}
EXPECTED_CMD = {"operator": ["operator"], "edge": ["edge"]}
NON_ROOT_UID = 10001  # the chart's runAsUser
COMPILERS = re.compile(r"\b(gcc|g\+\+|cc|clang|build-essential|libc6-dev|python3-dev|cython|cythonize)\b")


# --- a small Dockerfile reader ------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of ENTRYPOINT/CMD/RUN exec form, or None for the shell form."""
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) else None

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        """`--from=build --chown=1:1 a b c` -> ({'from': 'build', 'chown': '1:1'}, ['a', 'b', 'c'])."""
        flags: dict[str, str] = {}
        words = shlex.split(self.args)
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(path: Path) -> list[Stage]:
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue  # comments (and parser directives) and blank lines, also inside continuations
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, f"{path}: dangling line continuation"

    stages: list[Stage] = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=words[0], name=name))
            continue
        assert stages, f"{path}: {keyword} before FROM"
        stages[-1].instructions.append(Instruction(keyword, args.strip()))
    return stages


# --- .dockerignore, as Docker's patternmatcher reads it -----------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's patterns: `*` and `?` stay inside one path segment, `**` spans segments, [..] classes."""
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end
        elif char == "\\":
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return re.compile(f"^{out}$")


def load_dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:].strip() if negated else line
        pattern = pattern.strip("/")
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def is_ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Last matching rule wins; a rule matches the path or any of its parent directories."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negated, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def context_files(relative_source: str, rules: list[tuple[bool, re.Pattern[str]]]) -> list[Path]:
    """Files a COPY source brings from the build context (the repository root) after .dockerignore."""
    matches = sorted(ROOT.glob(relative_source.rstrip("/"))) if relative_source not in (".", "./") else [ROOT]
    files: list[Path] = []
    for match in matches:
        candidates = [match] if match.is_file() else [p for p in match.rglob("*") if p.is_file()]
        files.extend(p for p in candidates if not is_ignored(p.relative_to(ROOT).as_posix(), rules))
    return files


# --- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=TARGETS)
def image(request: pytest.FixtureRequest) -> tuple[str, list[Stage]]:
    """(target, the stages that `docker build --target TARGET` runs: the target and what it builds on)."""
    stages = parse_dockerfile(DOCKERFILE)
    by_name = {s.name: s for s in stages if s.name}
    assert request.param in by_name, f"no stage named {request.param}"
    chain = [by_name[request.param]]
    while chain[0].image in by_name:
        chain.insert(0, by_name[chain[0].image])
    build = stages[0]
    return request.param, [build, *chain] if chain[0] is not build else chain


def final_stage(image: tuple[str, list[Stage]]) -> Stage:
    return image[1][-1]


def base_image(image: tuple[str, list[Stage]]) -> str:
    """The registry image a stage chain starts from (through named stages)."""
    by_name = {s.name: s for s in image[1] if s.name}
    stage = final_stage(image)
    while stage.image in by_name:
        stage = by_name[stage.image]
    return stage.image


def test_edge_image_carries_no_kubernetes_packages_and_the_operator_image_does() -> None:
    stages = {s.name: s for s in parse_dockerfile(DOCKERFILE) if s.name}
    edge_install = " ".join(i.args for i in stages["edge"].all("RUN") if "pip install" in i.args)
    operator_install = " ".join(i.args for i in stages["operator"].all("RUN") if "pip install" in i.args)
    assert re.search(r"\s\"?sequence-k8s(\[live\])?\"?(\s|$)", edge_install), edge_install
    assert "sequence-k8s[kube]" in operator_install
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in deps if re.match(r"(kopf|kubernetes)\b", d)], deps


def console_scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


# --- the tests ----------------------------------------------------------------------------------------------


def test_dockerignore_matcher_follows_docker_rules() -> None:
    rules = [(False, _pattern_regex("**")), (True, _pattern_regex("src")), (False, _pattern_regex("**/*.so"))]
    assert is_ignored("README.md", rules)
    assert not is_ignored("src/a/b.py", rules)
    assert is_ignored("src/a/b.so", rules)
    assert _pattern_regex("a/*.c").match("a/x.c") and not _pattern_regex("a/*.c").match("a/b/x.c")
    assert _pattern_regex("**/*.py[cod]").match("x/y/z.pyc") and not _pattern_regex("**/*.py[cod]").match(
        "z.py"
    )


def test_images_are_multi_stage_with_a_named_build_stage(image: tuple[str, list[Stage]]) -> None:
    stages = image[1]
    assert len(stages) >= 2
    assert stages[0].name == "build"
    assert final_stage(image).name is None or final_stage(image).name != "build"


def test_base_images_are_pinned_to_exact_tags(image: tuple[str, list[Stage]]) -> None:
    stage_names = {s.name for s in image[1] if s.name}
    for stage in image[1]:
        if stage.image in stage_names:
            continue
        repository, _, tag = stage.image.partition(":")
        assert tag, f"{stage.image}: no tag"
        assert re.fullmatch(r"\d+\.\d+\.\d+(-[a-z0-9.-]+)?", tag), f"{stage.image}: not an exact version tag"
        assert repository == "python" and tag.startswith("3.11."), "requires-python and the CI run 3.11"


def test_build_and_runtime_share_one_interpreter(image: tuple[str, list[Stage]]) -> None:
    # The compiled extensions target the build stage's Python ABI and glibc.
    assert image[1][0].image == base_image(image)


def test_copy_sources_exist_in_the_build_context(image: tuple[str, list[Stage]]) -> None:
    rules = load_dockerignore()
    copies = 0
    for stage in image[1]:
        for instruction in stage.all("COPY") + stage.all("ADD"):
            flags, words = instruction.flags_and_words()
            if "from" in flags:
                continue  # from another stage, not the context
            for source in words[:-1]:
                assert not source.startswith(("http://", "https://")), "remote ADD is not reproducible"
                assert (ROOT / source.rstrip("/")).exists(), f"COPY {source}: not in the repository"
                assert context_files(source, rules), f"COPY {source}: excluded by .dockerignore"
                copies += 1
    assert copies >= 3


def test_every_source_the_wheel_needs_is_copied(image: tuple[str, list[Stage]]) -> None:
    """A .pyx added next week must be compiled into the image, not silently left out."""
    rules = load_dockerignore()
    build = image[1][0]
    copied: set[Path] = set()
    for instruction in build.all("COPY"):
        flags, words = instruction.flags_and_words()
        if "from" not in flags:
            for source in words[:-1]:
                copied.update(context_files(source, rules))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {ROOT / "pyproject.toml", ROOT / "setup.py"}
    readme = pyproject["project"].get("readme")
    if readme:
        needed.add(ROOT / (readme if isinstance(readme, str) else readme["file"]))
    for package_dir in (
        ROOT / "operator" / "sequence",
        ROOT / "edge-image" / "sequence_edge",
        ROOT / "edge-image" / "sequence_coordinator",
        ROOT / "wire" / "sequence_wire",
    ):
        needed.update(
            p for p in package_dir.rglob("*") if p.suffix in {".py", ".pyx", ".pxd", ".pxi", ".json", ".lua"}
        )
    needed = {p for p in needed if "__pycache__" not in p.parts}
    missing = sorted(p.relative_to(ROOT).as_posix() for p in needed - copied)
    assert not missing, f"not in the image's build stage (missing file or .dockerignore): {missing}"


def test_build_stage_compiles_a_wheel_of_the_repository(image: tuple[str, list[Stage]]) -> None:
    runs = " ".join(i.args for i in image[1][0].all("RUN"))
    assert re.search(r"pip wheel\b.*--wheel-dir[= ]/wheels\b.*\s\"?\.(\[kube(,live)?\])?\"?(\s|$)", runs), (
        runs
    )
    assert "build-essential" in runs


def test_final_stage_installs_the_wheels_only(image: tuple[str, list[Stage]]) -> None:
    final = final_stage(image)
    runs = [i.args for i in final.all("RUN")]
    installs = [r for r in runs if "pip install" in r]
    assert len(installs) == 1
    assert "--no-index" in installs[0] and "--find-links /wheels" in installs[0]
    assert "type=bind,from=build,source=/wheels" in installs[0]
    for instruction in final.all("COPY") + final.all("ADD"):
        flags, words = instruction.flags_and_words()
        assert flags.get("from") != "build" or all(w.startswith("/wheels") for w in words[:-1])
    text = " ".join(i.args for i in final.instructions)
    assert not COMPILERS.search(text), f"compiler in the runtime stage: {COMPILERS.search(text)}"


def test_final_stage_runs_as_the_non_root_user_10001(image: tuple[str, list[Stage]]) -> None:
    users = final_stage(image).all("USER")
    assert users, "no USER in the final stage: the image would run as root"
    uid, _, gid = users[-1].args.partition(":")
    assert uid.isdigit(), "a numeric USER lets Kubernetes' runAsNonRoot verify it"
    assert int(uid) == NON_ROOT_UID
    assert not gid or int(gid) != 0
    # the user is created before it is used (in the target or a stage it builds on)
    runs = " ".join(i.args for stage in image[1][1:] for i in stage.all("RUN"))
    assert f"--uid {NON_ROOT_UID}" in runs


def test_entrypoint_is_the_sequence_console_script(image: tuple[str, list[Stage]]) -> None:
    (entrypoint,) = final_stage(image).all("ENTRYPOINT")
    assert entrypoint.exec_form == ["sequence"]
    (cmd,) = final_stage(image).all("CMD")
    assert cmd.exec_form == EXPECTED_CMD[image[0]]


def test_console_script_resolves_to_a_callable() -> None:
    target = console_scripts()["sequence"]
    module_name, _, attribute = target.partition(":")
    assert module_name and attribute, f"malformed entry point {target!r}"
    function = import_module(module_name)
    for part in attribute.split("."):
        function = getattr(function, part)
    assert callable(function)


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (["operator"], ["--all-namespaces", "--namespace"]),  # the chart's args
        (["edge"], ["--venue", "--port"]),  # what the operator runs in edge pods
        (["coordinator"], ["--port"]),
    ],
)
def test_image_commands_exist_in_the_cli(command: list[str], options: list[str]) -> None:
    module_name, _, attribute = console_scripts()["sequence"].partition(":")
    program = f"import sys; sys.argv[0] = 'sequence'; from {module_name} import {attribute}; {attribute}()"
    result = subprocess.run(
        [sys.executable, "-c", program, *command, "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"`sequence {' '.join(command)} --help` failed:\n{result.stderr}"
    for option in options:
        assert option in result.stdout, f"`sequence {' '.join(command)}` has no {option}"


def test_ports_are_exposed(image: tuple[str, list[Stage]]) -> None:
    exposed = {int(port.split("/")[0]) for i in final_stage(image).all("EXPOSE") for port in i.args.split()}
    assert exposed == EXPECTED_PORTS[image[0]]


def test_dockerignore_keeps_local_build_outputs_out() -> None:
    rules = load_dockerignore()
    for relative in (
        "edge-image/sequence_edge/market/book.cpython-311-x86_64-linux-gnu.so",
        "edge-image/sequence_edge/market/book.c",
        "edge-image/Dockerfile",
        "edge-image/build/lib/sequence_edge/x.so",
        "operator/sequence/render/__pycache__/render.cpython-311.pyc",
        ".git/HEAD",
        "sdk/target/release/libx.rlib",
        "tests/test_dockerfiles.py",
    ):
        assert is_ignored(relative, rules), relative
    for relative in (
        "pyproject.toml",
        "operator/sequence/cli/main.py",
        "edge-image/sequence_edge/market/book.pyx",
        "edge-image/sequence_edge/algo/instance.pxi",
        "edge-image/sequence_coordinator/router.py",
        "wire/sequence_wire/mesh.py",
    ):
        assert not is_ignored(relative, rules), relative
