"""A small dependency-free progress bar for examples.

On a terminal it redraws one line in place; otherwise (a log file, CI) it prints a plain line at
most every ``every`` updates and at the end::

    bar = ProgressBar(total=100, label="train")
    for i in range(100):
        ...
        bar.update(i + 1, loss=0.25)
    bar.close()
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class ProgressBar:
    """``[#####-----]  50/100  loss=0.25  12.3 it/s``; ``total=None`` shows a counter only."""

    def __init__(
        self,
        total: Optional[int] = None,
        label: str = "",
        width: int = 30,
        stream: Optional[TextIO] = None,
        every: int = 0,
    ) -> None:
        self.total = total
        self.label = label
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        # Plain output: about 10 lines per run when the total is known.
        self.every = every or (max(1, total // 10) if total else 100)
        self._start = time.monotonic()
        self._count = 0
        self._line = ""

    def update(self, count: Optional[int] = None, **values: float) -> None:
        """Sets the count (default: one more) and the values shown after it."""
        self._count = self._count + 1 if count is None else count
        self._line = self._format(values)
        if self.tty:
            self.stream.write("\r\x1b[K" + self._line)
            self.stream.flush()
        elif self._count % self.every == 0 or self._count == self.total:
            self.stream.write(self._line + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Ends the bar's line (on a terminal)."""
        if self.tty and self._line:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _format(self, values: dict) -> str:
        parts = [self.label] if self.label else []
        if self.total:
            filled = min(self.width, self.width * self._count // self.total)
            parts.append("[" + "#" * filled + "-" * (self.width - filled) + "]")
            parts.append(f"{self._count:>{len(str(self.total))}}/{self.total}")
        else:
            parts.append(str(self._count))
        parts.extend(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        elapsed = time.monotonic() - self._start
        if elapsed > 0:
            parts.append(f"{self._count / elapsed:.1f} it/s")
        return "  ".join(parts)
