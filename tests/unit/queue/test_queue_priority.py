"""Priorities: live events (NORMAL) before the initial list (LOW); higher priority moves a key up."""

from kubeloop.queue import LOW, NORMAL, Queue


async def drain(queue: Queue[str]) -> list[str]:
    keys = []
    while len(queue):
        async with queue.get() as key:
            keys.append(key)
    return keys


async def test_initial_list_keys_come_after_live_events():
    queue: Queue[str] = Queue()
    queue.add("listed-1", priority=LOW)
    queue.add("listed-2", priority=LOW)
    queue.add("live-1")
    queue.add("live-2", priority=NORMAL)
    assert await drain(queue) == ["live-1", "live-2", "listed-1", "listed-2"]


async def test_any_integer_priority_orders_higher_first_and_fifo_within_a_priority():
    queue: Queue[str] = Queue()
    for key, priority in [("a", 1), ("b", 5), ("c", 1), ("d", -3), ("e", 5)]:
        queue.add(key, priority=priority)
    assert await drain(queue) == ["b", "e", "a", "c", "d"]


async def test_a_waiting_key_re_added_with_a_higher_priority_moves_up():
    queue: Queue[str] = Queue()
    queue.add("a", priority=LOW)
    queue.add("b", priority=LOW)
    queue.add("c", priority=LOW)
    queue.add("c")  # a live event for a listed key
    assert len(queue) == 3
    assert await drain(queue) == ["c", "a", "b"]


async def test_a_moved_up_key_keeps_its_place_among_keys_added_before_and_after_it():
    queue: Queue[str] = Queue()
    queue.add("early")
    queue.add("listed", priority=LOW)
    queue.add("late")
    queue.add("listed", priority=NORMAL)
    assert await drain(queue) == ["early", "listed", "late"]


async def test_a_waiting_key_re_added_with_a_lower_priority_keeps_its_place():
    queue: Queue[str] = Queue()
    queue.add("a")
    queue.add("b")
    queue.add("a", priority=LOW)
    assert await drain(queue) == ["a", "b"]


async def test_a_key_re_added_while_held_runs_again_with_the_highest_priority_it_was_given():
    queue: Queue[str] = Queue()
    queue.add("a")
    queue.add("other", priority=LOW)
    async with queue.get() as key:
        assert key == "a"
        queue.add("a", priority=LOW)
        queue.add("a", priority=NORMAL)
        queue.add("a", priority=LOW)
    assert await drain(queue) == ["a", "other"]
