"""Tasks that run until their owner stops them: a ``Supervisor`` turns any other end into an error.

Role: beside the clock at the bottom of the stack; the cache (informers), the controller (workers)
and the manager (cache, controllers) run their long-lived tasks through one, each in an
``asyncio.TaskGroup``, so that a task that ends unexpectedly fails its group, and so the manager,
instead of vanishing: a ``TaskGroup`` takes a cancelled child for a normal end, and a task ended by
a stray ``CancelledError`` (raised inside it, or a ``cancel()`` from code that does not own it)
would otherwise leave the process running without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from kubeloop.errors import StoppedError

__all__ = ["Supervisor", "leaves"]


class Supervisor:
    """The tasks one owner (the task that creates the ``Supervisor``) runs until it stops them.

    The owner is stopping them once ``asked()`` is true, once the owner itself is being cancelled
    (its ``TaskGroup`` then cancels them), or once one of them has failed (its group cancels the
    others). A task that ends while its owner is not stopping it fails: ``StoppedError`` naming it
    if it returned or was cancelled, else its own exception with a note naming it.
    """

    def __init__(self, asked: Callable[[], bool] = lambda: False) -> None:
        self._asked = asked
        self._owner = asyncio.current_task()
        self._failed = False

    def stopping(self) -> bool:
        """Whether an end of a supervised task is expected now."""
        owner_cancelled = self._owner is not None and self._owner.cancelling() > 0
        return self._failed or owner_cancelled or self._asked()

    async def run(
        self, name: str, work: Coroutine[Any, Any, object], *, stopped: Callable[[], bool] = lambda: False
    ) -> None:
        """Await ``work``, a task that should run until its owner stops it (see the class); once
        ``stopped()`` is true, the owner is stopping this one task alone and its cancellation is expected."""
        try:
            await work
        except asyncio.CancelledError:
            if self.stopping() or stopped():
                raise
            self._failed = True
            raise StoppedError(f"{name} was cancelled while its owner was not stopping it") from None
        except BaseException as exc:
            self._failed = True
            exc.add_note(f"raised by {name}")
            raise
        if not self.stopping():
            self._failed = True
            raise StoppedError(f"{name} returned while its owner was not stopping it")


def leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    """The exceptions in ``group`` and its nested groups, depth first (a failed ``TaskGroup``'s reasons)."""
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            yield from leaves(error)
        else:
            yield error
