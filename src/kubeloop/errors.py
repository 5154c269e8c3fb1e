"""The one error hierarchy of kubeloop: every error the framework raises derives from ``KubeloopError``."""

from __future__ import annotations

__all__ = ["ComponentError", "KubeloopError", "StoppedError", "TerminalError"]


class KubeloopError(Exception):
    """Root of every error kubeloop raises on purpose."""


class ComponentError(KubeloopError):
    """An external component (a build, a server process) failed.

    ``str()`` starts with one line naming the component and, when there is one, the log file to read;
    ``details`` (the last lines of that log, say) follow on the next lines.
    """

    def __init__(
        self, component: str, problem: str, log_path: str | None = None, *, details: str = ""
    ) -> None:
        self.component = component
        self.problem = problem
        self.log_path = log_path
        self.details = details
        where = f" (log: {log_path})" if log_path else ""
        more = f"\n{details}" if details else ""
        super().__init__(f"{component}: {problem}{where}{more}")


class TerminalError(KubeloopError):
    """Raised by a reconcile that must not be retried: the key is dropped until its next event.

    Any other exception is retried with per-key exponential backoff.
    """


class StoppedError(KubeloopError):
    """A task meant to run until its owner stops it (a controller's worker, an informer, a controller)
    ended on its own: it returned, or it was cancelled by someone other than its owner. The manager
    exits with it, so that the process is restarted rather than left running without that task."""
