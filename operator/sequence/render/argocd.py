"""Argo CD health checks: one Lua template, one state table per kind.

`sequence crds --write` renders charts/argocd/health/<Kind>.lua from
charts/argocd/health.lua.tmpl and copies the scripts into the two files that
install them (the argocd-cm merge patch and the argo-cd chart values);
tests fail when any of them drifts. Every lifecycleState of a kind's status
model must have a health here (tests/test_argocd_health.py checks it).
"""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
ARGOCD_DIR = REPO_ROOT / "charts" / "argocd"
TEMPLATE = ARGOCD_DIR / "health.lua.tmpl"
INSTALLERS = (ARGOCD_DIR / "argocd-cm-health-patch.yaml", ARGOCD_DIR / "argo-cd-values.yaml")

HEALTH_BY_STATE: dict[str, dict[str, str]] = {
    "AlgoDeployment": {
        "Running": "Healthy",
        "Deploying": "Progressing",
        "Pending": "Progressing",
        "Stopped": "Suspended",
        "Paused": "Suspended",
        "Degraded": "Degraded",
        "Failed": "Degraded",
        "Deleting": "Progressing",
    },
    "ExecutionGraph": {
        "Pending": "Progressing",
        "Active": "Progressing",
        "PartialFill": "Progressing",
        "Completed": "Healthy",
        "Paused": "Suspended",
        "Aborted": "Degraded",
        "Expired": "Degraded",
        "Refused": "Degraded",
        "Lost": "Degraded",
    },
    "MeshGroup": {"Pending": "Progressing", "Ready": "Healthy", "Degraded": "Degraded", "Failed": "Degraded"},
    "VenueEdge": {"Pending": "Progressing", "Ready": "Healthy", "Degraded": "Degraded", "Failed": "Degraded"},
}


def _lua_table(states: dict[str, str]) -> str:
    width = max(map(len, states))
    return "".join(
        f'  {state} ={" " * (width - len(state) + 1)}"{health}",\n' for state, health in states.items()
    )


def health_scripts() -> dict[str, str]:
    """{kind: Lua script}."""
    template = TEMPLATE.read_text()
    body = template.split("\n", 2)[2]  # drop the template's own two-line header
    return {
        kind: body.replace("@KIND@", kind).replace("@HEALTH_BY_STATE@", _lua_table(states))
        for kind, states in HEALTH_BY_STATE.items()
    }


def _embed(text: str, scripts: dict[str, str]) -> str:
    """Replace each `...health.sequence.dev_<Kind>: |` literal block with the current script."""
    for kind, script in scripts.items():
        pattern = re.compile(
            rf"^(?P<indent> *)resource\.customizations\.health\.sequence\.dev_{kind}: \|\n"
            rf"(?P<body>(?:(?P=indent)  .*\n|\n)*?)(?=(?P=indent)\S|\S|\Z)",
            re.MULTILINE,
        )
        match = pattern.search(text)
        if match is None:
            raise ValueError(f"no health check for {kind} to replace")
        inner = match["indent"] + "  "
        block = "".join(inner + line + "\n" if line else "\n" for line in script.rstrip("\n").split("\n"))
        # keep the blank line that separated the block from the next key, if there was one
        trailing = "\n" if match["body"].endswith("\n\n") else ""
        text = text[: match.start("body")] + block + trailing + text[match.end("body") :]
    return text


def rendered() -> dict[Path, str]:
    """Every generated Argo CD file and its content."""
    scripts = health_scripts()
    files = {ARGOCD_DIR / "health" / f"{kind}.lua": script for kind, script in scripts.items()}
    for path in INSTALLERS:
        files[path] = _embed(path.read_text(), scripts)
    return files


def write_health() -> list[Path]:
    written = []
    for path, text in rendered().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written
