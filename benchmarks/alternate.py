"""Time two or more sides of a comparison alternately (side A, side B, side A, ...), so that a
drift of the machine's speed hits every side alike."""
from __future__ import annotations

import time
from typing import Callable, Mapping


def time_alternately(sides: Mapping[str, Callable[[], object]],
                     repeats: int) -> dict[str, list[float]]:
    """{side: [seconds of each repeat]}; call each side once beforehand to compile it."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def summary(times: Mapping[str, list[float]], slow: str, fast: str, digits: int = 2) -> str:
    """'fast t1, t2 s | slow t1, t2 s | slow / fast = Nx' (the ratio of the best repeats)."""
    runs = " | ".join(f"{name} {', '.join(f'{t:.{digits}f}' for t in times[name])} s"
                      for name in (fast, slow))
    return f"{runs} | {slow} / {fast} = {min(times[slow]) / min(times[fast]):.2f}x"
