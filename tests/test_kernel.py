import os

import pytest

from user_failure_stats import kernel, runner
from user_failure_stats.params import Parameters


def test_a_kernel_that_cannot_start_is_one_error_and_leaves_nothing(
    monkeypatch, notebook_db_url, settings_for, tmp_path
):
    from user_failure_stats.errors import NotebookError

    monkeypatch.setattr(kernel, "KERNEL_NAME", "no-such-kernel")
    params = Parameters(start="2025-05-21", end="2025-05-23", timezone="Asia/Kolkata")
    with pytest.raises(NotebookError) as caught:
        runner.run_report(params, settings_for(notebook_db_url), tmp_path / "out")
    assert str(caught.value).startswith(
        "could not execute the report notebook: NoSuchKernel: No such kernel named no-such-kernel"
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_the_kernel_gets_the_environment_and_the_runner_keeps_its_own(monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("DB_URL", "postgresql://runner/db")
    code = "import os; print(os.environ['DB_URL'], os.environ['EXTRA'], os.environ.get('HOME'))"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    options = kernel.engine_options({"DB_URL": "postgresql://kernel/db", "EXTRA": "x y"})
    client = NotebookClient(notebook, **options)
    client.execute()
    printed = notebook.cells[0].outputs[0]["text"].split()
    assert printed == ["postgresql://kernel/db", "x", "y", os.environ.get("HOME", "None")]
    assert os.environ["DB_URL"] == "postgresql://runner/db"
    assert "EXTRA" not in os.environ
    assert client.km is None  # nbclient stopped the kernel it started
