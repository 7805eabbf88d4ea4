"""Asynchronous upstream jobs: Midjourney (midjourney-proxy, channel types 2 and 5), Suno (type 36) and
OpenAI's Videos API (Sora, on the OpenAI-shaped channel types).

A task is submitted once (priced per call, a video per second, charged when the upstream accepts it),
saved as a row, and polled until it ends (app.jobs.tasks); a task that fails upstream is refunded exactly
once.

- `common.py`: the task adaptor base class and the verdict on a submit answer (pure).
- `midjourney.py`, `suno.py`, `video.py`: request/response translation for each platform (pure: no Flask,
  no DB).
- `submit.py`: one submission: price, route, reserve, send, settle or refund, save the row.
- `finish.py`: applying what a poll learned to a row; the guarded refund of a failed task.
"""
