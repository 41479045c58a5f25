"""The worker's CPU priority: below the API's where both share a host's cores.

On 2 cores, four resize jobs kept the API's event loop waiting for CPU: a submit took p99
558 ms while the worker was busy; at nice 10, 49 ms, for the same jobs a second
(docs/benchmarks.md, "Tuning"). The kernel gives the API the CPU when it wants it, and the
worker the rest.
"""

import os


def lower_priority(nice: int) -> int:
    """Run at nice `nice` at least (never raised back: that needs privileges); the nice value
    this thread now has. Call it before threads start: on Linux each thread has its own
    priority, inherited by the threads it makes."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    return os.getpriority(os.PRIO_PROCESS, 0)
