"""gunicorn settings for ``studio run``: threaded workers that keep the mlflow client's connections alive.

``studio run`` passes the address and the number of processes; anything here can still be overridden with
gunicorn's own ``GUNICORN_CMD_ARGS`` (for example ``--threads 16``).
"""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker as GThreadWorker


class ThreadWorker(GThreadWorker):
    """gunicorn's gthread worker, except that a stopping worker closes its idle connections at once."""

    def murder_keepalived(self) -> None:
        """Close expired idle connections, and every idle one once the worker is stopping."""
        # gthread (>= 24) waits on shutdown until each idle kept-alive connection times out; with a long keep-alive
        # one idle mlflow client would hold up every stop
        # for graceful_timeout. Idle means no request in flight.
        if not self.alive:
            for conn in [*getattr(self, "keepalived_conns", ()), *getattr(self, "pending_conns", ())]:
                conn.timeout = 0  # the loop's own murder_pending() closes the pending ones right after
        super().murder_keepalived()


# Each process serves many connections with a thread pool, and idle kept-alive connections wait in a poller
# instead of holding a thread, so a client's requests.Session reuses one socket for a whole training run.
worker_class = "studio.gunicorn_conf.ThreadWorker"
threads = 8
# Seconds an idle connection stays open; longer than the gap between a training loop's logging calls.
keepalive = 60
# The web processes check in with the master between requests; long artifact uploads do not count against this.
timeout = 120
# How long a stopping process lets requests in flight finish (gunicorn's default; studio run waits a bit longer).
graceful_timeout = 30
# gunicorn's listening TCP socket sets TCP_NODELAY (gunicorn.sock.TCPSocket.set_options) and Linux passes it on to
# every accepted connection, so small JSON replies are not held back by Nagle's algorithm; nothing to set here.

# gunicorn >= 25 opens a control socket at a fixed path under $HOME; two servers on one machine would fight over it.
control_socket_disable = True

# Access and error log both go to stdout, one line per request and event.
_stdout = {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stdout"}
logconfig_dict = {
    "root": {"level": "WARNING", "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False, "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False, "qualname": "gunicorn.access"},
    },
    "handlers": {"stdout": _stdout},
}
