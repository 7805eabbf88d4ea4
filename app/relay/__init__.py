"""The relay: a program holding a Sluice key calls /v1 as it would call OpenAI and is billed once.

Module map (each module's docstring has the details):
    pipeline.py      one request, start to finish: auth -> parse -> price -> reserve -> attempts -> settle
    request.py       strict body parsing and per-endpoint checks, cheap reservation estimates
    keys.py          key authentication from a per-process cache ("tokens", "users")
    routing.py       the cached routing table: priority levels, weighted choice, multi-key selection
    streaming.py     SSE relay: first event read in the view, a generator that settles in `finally`
    settlement.py    the request in flight (Job) and its log row / rollup / plan counters
    health.py        automatic disabling on bad credentials, re-enabling after tests
    channel_test.py  channel test, model list and balance through the adaptors
    http.py          the one pooled HTTP session; raw chunk iteration for streams
    sse.py, types.py, estimate.py, tokenizer.py: framing, plain data, tokenizer fallbacks
    adaptors/        pure translation per provider (registry: channel type -> adaptor)
    translate/, tasks/: other surfaces (Claude, Gemini, Responses, rerank) and async task APIs
Money lives in app.billing (pricing.py: ratio maths; quota.py: reserve/settle/refund; ledger.py).
"""
