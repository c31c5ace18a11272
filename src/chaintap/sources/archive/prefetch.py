"""Run a batch iterator in a background thread, a bounded number of items ahead.

Reading and decoding Parquet releases the GIL, and so does the SQL engine, so an
archive source that reads the next batch while the runtime transforms the current
one uses both activities' time at once instead of one after the other.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

# How often a blocked producer looks whether it was told to stop.
_STOP_POLL_S = 0.1


class _End:
    """Put after the last item."""


class _Failure:
    """Carries the producer's exception to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetcher(Generic[T]):
    """Iterates `produce()` in a thread; at most `depth` items wait in between.

    Items come out in order; an exception of the producer is raised by the
    consumer's iteration at the point the producer failed. `close` stops the
    thread (it may be in the middle of producing one item) and is safe to call
    twice, or before iterating.
    """

    def __init__(
        self, produce: Callable[[], Iterator[T]], depth: int, name: str
    ) -> None:
        self._produce = produce
        self._queue: queue.Queue[T | _End | _Failure] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __iter__(self) -> Iterator[T]:
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if isinstance(item, _End):
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """1. tell the producer to stop; 2. free its slot; 3. wait for it."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        try:
            for item in self._produce():
                if not self._put(item):
                    return
            self._put(_End())
        except BaseException as err:  # handed to the consumer, which re-raises it
            self._put(_Failure(err))

    def _put(self, item: T | _End | _Failure) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_STOP_POLL_S)
                return True
            except queue.Full:
                continue
        return False
