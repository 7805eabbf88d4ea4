"""gunicorn settings. The worker class is gevent: the relay holds many slow upstream streams at once,
and the benchmark (bench/README.md) measured gthread holding only workers x threads of them."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '3000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", min(multiprocessing.cpu_count(), 4)))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "600"))
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
control_socket_disable = True  # gunicorn 27 gives every master the same control socket otherwise


def on_starting(server):
    """Prometheus multiprocess mode (PROMETHEUS_MULTIPROC_DIR, see app/metrics.py): start from an empty
    directory, so values written by an earlier run of the server are not added to this one's."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))


def child_exit(server, worker):
    """A worker is gone: drop its live gauges (streams in flight) from the sums; its counters stay."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """The app is loaded: move what it allocated (about 160k objects) into the garbage collector's permanent
    generation, so that a full collection no longer walks all of it (~80 ms with the whole worker stalled,
    measured under the relay benchmark)."""
    import gc

    gc.collect()
    gc.freeze()
