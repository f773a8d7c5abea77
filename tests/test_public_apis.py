"""The package uses other packages' public APIs only: no underscore names, no sys.modules."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "user_failure_stats"
OWN = "user_failure_stats"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = {}  # local name -> module it came from (other packages only)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith(OWN):
                    imported[(alias.asname or alias.name).split(".")[0]] = alias.name
                    if any(_private(part) for part in alias.name.split(".")):
                        found.append(f"{path.name}:{node.lineno} import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith(OWN):
            if node.level == 0:
                if any(_private(part) for part in node.module.split(".")):
                    found.append(f"{path.name}:{node.lineno} from {node.module}")
                for alias in node.names:
                    imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                    if _private(alias.name):
                        found.append(f"{path.name}:{node.lineno} {node.module}.{alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in imported and _private(node.attr):
                found.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
            if node.value.id == "sys" and node.attr == "modules":
                found.append(f"{path.name}:{node.lineno} sys.modules")
    return found


def test_no_private_names_of_other_packages_and_no_sys_modules():
    found = [v for path in sorted(SRC.glob("*.py")) for v in _violations(path)]
    assert found == []


def test_the_check_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import sys\nfrom nbconvert import _private\nimport plotly.io._base_renderers\n"
        "from sqlalchemy.engine import url\nurl._rfc_1738_pattern\nsys.modules['x'] = None\n"
    )
    assert [v.split(" ", 1)[1] for v in _violations(bad)] == [
        "nbconvert._private",
        "import plotly.io._base_renderers",
        "url._rfc_1738_pattern",
        "sys.modules",
    ]
