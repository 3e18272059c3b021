"""One progress line on stderr, redrawn in place: the CLI's only progress display."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class ProgressLine:
    """A progress callback that redraws ``render(event)`` on one stderr line while ``enabled``."""

    def __init__(self, enabled: bool, render: Callable[[Any], str]) -> None:
        self.enabled = enabled
        self.render = render
        self.drawn = False

    def __call__(self, event: Any) -> None:
        if not self.enabled:
            return
        sys.stderr.write(f"\r{self.render(event)}  ")
        sys.stderr.flush()
        self.drawn = True

    def end(self) -> None:
        """Finish the line (once something was drawn)."""
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.drawn = False
