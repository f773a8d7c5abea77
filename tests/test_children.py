import os
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
