import os
import subprocess
import sys
import time

from user_failure_stats.children import gather


def send_numbers(send, count):
    for number in range(count):
        send(number)


def send_then_sleep(send):
    send("first")
    time.sleep(60)


def end_without_a_word(send):
    os._exit(3)


def test_everything_the_child_sends_is_gathered_in_order():
    assert gather(send_numbers, (3,), expected=3, timeout=30) == ([0, 1, 2], False)


def test_a_child_still_at_work_at_the_deadline_is_killed():
    began = time.monotonic()
    items, timed_out = gather(send_then_sleep, (), expected=2, timeout=1)
    assert (items, timed_out) == (["first"], True)
    assert time.monotonic() - began < 10


def test_a_child_that_ends_without_sending_is_not_a_timeout():
    assert gather(end_without_a_word, (), expected=1, timeout=30) == ([], False)
    assert gather(send_numbers, (1,), expected=2, timeout=30) == ([0], False)


def test_output_waiting_in_a_buffer_is_written_once(tmp_path):
    # Written to a file, stdout is buffered: the forked child must not write the parent's
    # buffer a second time (a cron job's log would show lines twice).
    code = (
        "from user_failure_stats.children import gather\n"
        "print('before the child')\n"
        "def work(send):\n"
        "    send(1)\n"
        "print(gather(work, (), expected=1, timeout=30))\n"
    )
    log = tmp_path / "cron.log"
    with open(log, "w") as out:
        subprocess.run([sys.executable, "-c", code], stdout=out, check=True, timeout=60)
    assert log.read_text() == "before the child\n([1], False)\n"


def test_a_child_whose_parent_was_killed_ends_itself(tmp_path):
    # SIGKILL gives the parent no chance to kill its child: the child must notice.
    code = (
        "import os, time\n"
        "from user_failure_stats.children import gather\n"
        "def work(send):\n"
        "    print(os.getpid(), flush=True)\n"
        "    time.sleep(600)\n"
        "gather(work, (), expected=1, timeout=600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait(30)
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child, 9)
    raise AssertionError("the child outlived its killed parent")


def grow(send):
    try:
        bytearray(3 * 1024**3)  # as an endless answer read into memory would
        send("allocated")
    except MemoryError:
        send("refused")


def test_a_child_cannot_take_gigabytes():
    assert gather(grow, (), expected=1, timeout=60) == (["refused"], False)


def open_files_limit(soft: int, hard: int):
    """A preexec_fn giving the child this open-file limit (``ulimit -n``)."""
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_low_open_file_limit_is_raised_as_far_as_allowed(tmp_path):
    # ulimit -n 24 in a crontab: the kernel's sockets would abort the run (SIGABRT).
    program = (
        "import resource; from user_failure_stats.children import ensure_open_files; "
        "ensure_open_files(); print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        preexec_fn=open_files_limit(24, 4096),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == "256\n", done.stderr


def test_a_hard_open_file_limit_too_low_for_a_run_is_one_line(cli_env, tmp_path):
    from tests.helpers import COMMAND, SEED_WINDOW

    done = subprocess.run(
        [*COMMAND, "run", *SEED_WINDOW, "--output-dir", str(tmp_path / "out")],
        env=cli_env("postgresql://u:p@127.0.0.1:1/db"),
        preexec_fn=open_files_limit(24, 24),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (
        2,
        "user-failure-stats: error: the open-file limit (ulimit -n) is 24: the report's "
        "kernel, its connections and children need 256; raise it\n",
    )
    assert not (tmp_path / "out").exists()
