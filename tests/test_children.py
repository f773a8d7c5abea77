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
