"""`python -m bench`: how fast the service resizes, and what that costs, in one run on one machine.

    limits    no broker: the corpus through a thread pool, once with the plain libvips loop
              (one decode per variant) and once with the worker's own render code
    service   the API and one worker as `python -m` subprocesses; the corpus over HTTP
    latency   `POST /v1/jobs` at a fixed rate, the worker idle and then busy
    ceiling   tiny images, many at once: where HTTP, the broker and the store dominate
    memory    the worker's RSS over many jobs

It measures and prints; it asserts no timing. `docs/benchmarks.md` says how to read the table.
"""
