"""The committed notebook's shape. nbmake executes it (make test passes --nbmake notebooks)."""

import ast
import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "user_failure_rates.ipynb"


def code_cells():
    notebook = json.loads(NOTEBOOK.read_text())
    return [c for c in notebook["cells"] if c["cell_type"] == "code"]


def source(cell) -> str:
    """The cell's Python, without IPython magics (``%autoreload``)."""
    text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return "\n".join(line for line in text.splitlines() if not line.startswith("%"))


def test_committed_without_outputs():
    for cell in code_cells():
        assert cell["outputs"] == []
        assert cell["execution_count"] is None


def test_first_code_cell_is_the_parameters_cell_of_literals():
    first = code_cells()[0]
    assert first["metadata"].get("tags") == ["parameters"]
    tree = ast.parse(source(first))
    names = []
    for node in tree.body:
        assert isinstance(node, ast.Assign), ast.dump(node)
        assert isinstance(node.value, ast.Constant), f"{ast.unparse(node)} is not a literal"
        names.append(node.targets[0].id)
    assert names == [
        "start",
        "end",
        "timezone",
        "top_n",
        "min_sessions",
        "fdr",
        "title",
        "output_dir",
        "stamp",
        "export",
    ]


def test_no_secrets_or_definitions_in_the_notebook():
    for cell in code_cells():
        tree = ast.parse(source(cell))
        for node in ast.walk(tree):
            assert not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Lambda)
        assert "DB_URL" not in source(cell).split("#")[0]
    assert "password" not in NOTEBOOK.read_text().lower()


def test_parameters_match_what_the_runner_injects():
    from user_failure_stats.params import Parameters

    names = set(Parameters(start="2025-05-21", end="2025-05-22").as_notebook_parameters())
    first = {n.targets[0].id for n in ast.parse(source(code_cells()[0])).body}
    assert names | {"output_dir", "stamp"} == first


def test_make_lab_opens_the_notebook_in_a_lab_that_browses_the_reports(tmp_path):
    import json
    import os
    import socket
    import subprocess
    import time
    import urllib.request

    root = Path(__file__).resolve().parents[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = "lab-test-token"
    extra = f"--no-browser --ServerApp.port={port} --IdentityProvider.token={token}"
    env = os.environ | {"JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path)}
    lab = subprocess.Popen(
        ["make", "-s", "lab", f"LAB_ARGS={extra}"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{base}/api/contents?token={token}") as answer:
                    top = {item["name"] for item in json.load(answer)["content"]}
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("JupyterLab did not start within 60 s")
        assert {"notebooks", "reports", "parameters"} <= top
        with urllib.request.urlopen(f"{base}/?token={token}") as answer:  # where Lab opens
            assert answer.url.split("?")[0] == f"{base}/lab/tree/notebooks/user_failure_rates.ipynb"
    finally:
        os.killpg(lab.pid, 15)
        lab.wait(timeout=30)
