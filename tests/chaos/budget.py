"""A chaos run's request budget: what the run asked of the operator, in requests at kube-apiserver.

The bound was 2x one fault-free run's requests, which varied 95-153 between runs of the short form
(how quickly pods became Ready decided how many status writes and lease renewals fell before
convergence), so it flaked. The budget now counts what this run itself asked for, each at the most
requests the AppService operator spends on it (its applies skip a child that is as it wants it): a
run may make at most twice that, so a reconcile that loops or fights still fails it.
"""

from __future__ import annotations

from dataclasses import dataclass

PER_APP_CHANGE = 4  # an AppService created: its Deployment and Service applied, its status, an Event
PER_READY_CHANGE = 2  # a Deployment's readyReplicas changed: the status written, an Event naming it
PER_RETRY_PERIOD = 2  # each replica reads the Lease every retry period (half of it as a follower), the
# leader then writes it: GET + PUT


@dataclass(frozen=True)
class Asked:
    """What one run asked of the operator."""

    app_changes: int  # AppServices created, resized or deleted by the workload
    ready_changes: int  # changes of a Deployment's status.readyReplicas (an independent watch's count)
    seconds: float  # how long the requests were metered
    replicas: int
    retry_period: float
    demanded: int = 0  # what the fault itself asked for (a competing writer's edits, compactions)

    @property
    def requests(self) -> int:
        lease = PER_RETRY_PERIOD * self.replicas * self.seconds / self.retry_period
        return round(
            PER_APP_CHANGE * self.app_changes + PER_READY_CHANGE * self.ready_changes + lease + self.demanded
        )

    @property
    def budget(self) -> int:
        """The most requests the run may make."""
        return 2 * self.requests

    def over(self, requests: int) -> str | None:
        """Why ``requests`` is over the budget, or None."""
        if requests <= self.budget:
            return None
        return f"{requests} requests, more than 2x the {self.requests} the run asked for ({self})"

    def __str__(self) -> str:
        return (
            f"{self.app_changes} AppService changes x {PER_APP_CHANGE}, {self.ready_changes} ready-replica"
            f" changes x {PER_READY_CHANGE}, {self.seconds:.0f} s of {self.replicas} replica(s) with the"
            f" Lease every {self.retry_period:g} s x {PER_RETRY_PERIOD}, {self.demanded} the fault asked for"
        )
