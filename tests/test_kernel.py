import os

import pytest

from user_failure_stats import kernel, runner
from user_failure_stats.config import Parameters


def test_kernel_environment_is_restored(monkeypatch, settings_for):
    monkeypatch.setenv("DB_URL", "postgresql://before/db")
    monkeypatch.delenv("CONNECT_TIMEOUT_SECONDS", raising=False)
    with kernel.kernel_environment(settings_for("postgresql://during/db")):
        assert os.environ["DB_URL"] == "postgresql://during/db"
        assert os.environ["CONNECT_TIMEOUT_SECONDS"] == "10"
    assert os.environ["DB_URL"] == "postgresql://before/db"
    assert "CONNECT_TIMEOUT_SECONDS" not in os.environ


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


def test_a_started_kernel_is_stopped_and_stopping_twice_is_harmless(tmp_path):
    manager = kernel.start_kernel(cwd=tmp_path)
    process = manager.provisioner.process
    assert manager.has_kernel and process.poll() is None
    kernel.stop_kernel(manager)
    assert process.wait(timeout=10) is not None
    assert not manager.has_kernel
    kernel.stop_kernel(manager)
