"""Stopping libvips mid-computation when an attempt is cancelled (timeout or shutdown)."""

import threading
from typing import Any


class RenderCancelled(Exception):
    """libvips stopped because the attempt's `cancel` event was set."""


def stop_when_set(image: Any, cancel: threading.Event) -> None:
    """Ask libvips to abandon `image`'s computation once `cancel` is set (eval/kill)."""

    def on_eval(target: Any, _progress: Any) -> None:
        if cancel.is_set():
            target.set_kill(True)

    image.set_progress(True)
    image.signal_connect("eval", on_eval)
