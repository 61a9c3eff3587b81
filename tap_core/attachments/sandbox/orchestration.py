"""Asynchronous detonation as a state machine: submit -> poll (delayed queue messages) -> outcome.

No function ever waits for the sandbox. After :func:`start_job` the caller stores the job and
enqueues a message delayed by the returned :class:`Poll`. Each poll message runs
:func:`next_step` (pure) or :func:`advance` (which also asks the provider) and either enqueues the
next poll, or gets a terminal step that :func:`outcome` maps to what happens to the held message:

- CLEAN -> ``release`` (deliver the held message);
- MALICIOUS -> the policy's ``malicious_action`` (quarantine) and notify the admin;
- SUSPICIOUS -> the policy's ``suspicious_action``;
- TIMEOUT, a failed or cut-short run with nothing bad seen, or an unsupported file -> the
  policy's ``timeout_action``
  (``tag``: release with a warning banner; ``hold``: keep holding for an admin).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from tap_core.attachments.policy import AttachmentPolicy
from tap_core.attachments.sandbox.model import SandboxReport, SandboxStatus, SubmissionId
from tap_core.attachments.sandbox.provider import SandboxError, SandboxProvider, UnsupportedFile
from tap_core.attachments.sandbox.rules import behaviour_findings, verdict_of
from tap_core.detect.scoring import Thresholds
from tap_core.model.decision import Action
from tap_core.model.findings import Finding, Verdict


class PollSchedule(BaseModel):
    """First poll after ``first_seconds``, then each wait ``factor`` times longer, at most ``max_seconds``.

    Defaults: 15 s, 22.5 s, 33.8 s, 50.6 s, 60 s... (most detonations finish in 1-4 minutes; a
    dozen polls cover the 7-minute maximum).
    """

    first_seconds: float = Field(default=15.0, gt=0)
    factor: float = Field(default=1.5, ge=1.0)
    max_seconds: float = Field(default=60.0, gt=0)

    def delay(self, polls_done: int) -> float:
        return min(self.first_seconds * self.factor**polls_done, self.max_seconds)


class SandboxJob(BaseModel):
    """One file under detonation; serialisable (store it, or carry it in the queue message)."""

    tenant_id: str = ""
    message_id: str = ""
    sha256: str
    name: str = ""
    provider: str
    submission_id: str
    submitted_at: datetime
    timeout_seconds: int = Field(ge=1)
    polls: int = 0
    last_status: SandboxStatus = SandboxStatus.PENDING

    @property
    def deadline(self) -> datetime:
        return self.submitted_at + timedelta(seconds=self.timeout_seconds)

    def polled(self, status: SandboxStatus) -> SandboxJob:
        return self.model_copy(update={"polls": self.polls + 1, "last_status": status})


class Poll(BaseModel):
    kind: Literal["poll"] = "poll"
    after_seconds: float


class FetchReport(BaseModel):
    """The provider says DONE: fetch the report and call :func:`next_step` again with it."""

    kind: Literal["fetch_report"] = "fetch_report"


class Concluded(BaseModel):
    kind: Literal["verdict"] = "verdict"
    verdict: Verdict
    findings: list[Finding] = Field(default_factory=list)
    report: SandboxReport


class TimedOut(BaseModel):
    kind: Literal["timeout"] = "timeout"
    reason: str = "the sandbox gave no verdict before the deadline"


class Unanalysed(BaseModel):
    """The run failed or no provider could run the file: no verdict, handled like a timeout."""

    kind: Literal["unanalysed"] = "unanalysed"
    reason: str


Step = Poll | FetchReport | Concluded | TimedOut | Unanalysed
Terminal = Concluded | TimedOut | Unanalysed


def first_poll(schedule: PollSchedule | None = None) -> Poll:
    return Poll(after_seconds=(schedule or PollSchedule()).delay(0))


def next_step(
    job: SandboxJob,
    now: datetime,
    status: SandboxStatus,
    report: SandboxReport | None = None,
    *,
    schedule: PollSchedule | None = None,
    thresholds: Thresholds | None = None,
) -> Step:
    """What to do after a status check at ``now``. A finished run wins over the deadline (a report
    that arrived just late is still better than no verdict); otherwise the deadline is final and
    the next poll is never scheduled after it (the last one lands on the deadline itself)."""
    if status is SandboxStatus.DONE:
        if report is None:
            return FetchReport()
        findings = behaviour_findings(report)
        verdict = verdict_of(findings, thresholds)
        # "Nothing bad seen" from a run that was cut short is no clean bill of health.
        if verdict is Verdict.CLEAN and report.timed_out:
            return TimedOut(reason=f"the {job.provider} run hit its time limit before a verdict")
        if verdict is Verdict.CLEAN and report.errors:
            return Unanalysed(
                reason=f"the {job.provider} run stopped early: {'; '.join(report.errors)[:200]}"
            )
        return Concluded(verdict=verdict, findings=findings, report=report)
    if status is SandboxStatus.FAILED:
        return Unanalysed(reason=f"the {job.provider} run failed")
    remaining = (job.deadline - now).total_seconds()
    if remaining <= 0:
        return TimedOut(reason=f"no verdict from {job.provider} after {job.timeout_seconds} s")
    delay = (schedule or PollSchedule()).delay(job.polls)
    return Poll(after_seconds=round(min(delay, remaining), 3))


def start_job(
    provider: SandboxProvider,
    name: str,
    data: bytes,
    sha256: str,
    now: datetime,
    policy: AttachmentPolicy,
    *,
    tenant_id: str = "",
    message_id: str = "",
) -> SandboxJob | Unanalysed:
    """Submit the file; an unsupported file or an unavailable provider gives :class:`Unanalysed`."""
    try:
        submission = provider.submit(name, data, policy.sandbox_timeout_seconds)
    except UnsupportedFile as exc:
        return Unanalysed(reason=f"no sandbox for this file: {exc}")
    except SandboxError as exc:
        return Unanalysed(reason=f"sandbox unavailable: {exc}")
    return SandboxJob(
        tenant_id=tenant_id,
        message_id=message_id,
        sha256=sha256,
        name=name,
        provider=provider.name,
        submission_id=submission,
        submitted_at=now,
        timeout_seconds=policy.sandbox_timeout_seconds,
    )


def advance(
    job: SandboxJob,
    now: datetime,
    provider: SandboxProvider,
    *,
    schedule: PollSchedule | None = None,
    thresholds: Thresholds | None = None,
) -> tuple[SandboxJob, Step]:
    """One poll: ask the provider, fetch the report when DONE, and return the updated job and step.
    A provider error counts as "still running" until the deadline (transient outages are common)."""
    try:
        status = provider.status(SubmissionId(job.submission_id))
    except SandboxError:
        status = job.last_status if job.last_status is not SandboxStatus.DONE else SandboxStatus.RUNNING
    report = None
    if status is SandboxStatus.DONE:
        try:
            report = provider.report(SubmissionId(job.submission_id))
        except SandboxError:
            status = SandboxStatus.RUNNING
    step = next_step(job, now, status, report, schedule=schedule, thresholds=thresholds)
    return job.polled(status), step


class SandboxOutcome(BaseModel):
    """What to do with the held message once the sandbox has spoken (or not)."""

    #: What happens to the held message, in the one vocabulary: deliver (release it), tag
    #: (release it with the warning banner), hold (keep it for an admin), quarantine.
    action: Action
    verdict: Verdict | None = None
    notify_admin: bool = False
    #: Release with the warning banner (a tag: a timeout under ``timeout_action: tag``).
    banner: bool = False
    reason: str
    findings: list[Finding] = Field(default_factory=list)


def outcome(step: Terminal, policy: AttachmentPolicy) -> SandboxOutcome:
    """Map one file's terminal step to the action on the held message under ``policy``."""
    if isinstance(step, Concluded):
        names = ", ".join(f.name for f in step.findings) or "no behaviour"
        if step.verdict is Verdict.MALICIOUS:
            action = Action(policy.malicious_action)
            return SandboxOutcome(
                action=action,
                verdict=step.verdict,
                notify_admin=True,
                banner=action is Action.TAG,
                reason=f"sandbox: malicious ({names})",
                findings=step.findings,
            )
        if step.verdict is Verdict.SUSPICIOUS:
            action = Action(policy.suspicious_action)
            return SandboxOutcome(
                action=action,
                verdict=step.verdict,
                notify_admin=action is not Action.DELIVER,
                banner=action is Action.TAG,
                reason=f"sandbox: suspicious ({names})",
                findings=step.findings,
            )
        return SandboxOutcome(
            action=Action.DELIVER,
            verdict=Verdict.CLEAN,
            reason=f"sandbox: clean ({names})",
            findings=step.findings,
        )
    label = "timeout" if isinstance(step, TimedOut) else "not analysed"
    if policy.timeout_action == "tag":
        return SandboxOutcome(action=Action.TAG, banner=True, reason=f"sandbox {label}: {step.reason}")
    return SandboxOutcome(action=Action.HOLD, notify_admin=True, reason=f"sandbox {label}: {step.reason}")


def message_outcome(steps: Sequence[Terminal], policy: AttachmentPolicy) -> SandboxOutcome:
    """The outcome for a message with several detonated files: the strictest one wins."""
    if not steps:
        return SandboxOutcome(action=Action.DELIVER, verdict=Verdict.CLEAN, reason="nothing to detonate")
    outcomes = [outcome(step, policy) for step in steps]
    worst = max(outcomes, key=lambda o: (o.action.rank, o.verdict.rank if o.verdict else 0))
    return worst.model_copy(
        update={
            "notify_admin": any(o.notify_admin for o in outcomes),
            "reason": "; ".join(dict.fromkeys(o.reason for o in outcomes)),
            "findings": [f for o in outcomes for f in o.findings],
        }
    )


class JobStore(Protocol):
    """Where the function app keeps jobs between poll messages (Azure Table in production)."""

    def save(self, job: SandboxJob) -> None: ...

    def load(self, submission_key: str) -> SandboxJob | None: ...


class DelayedQueue(Protocol):
    """A queue whose messages become visible after a delay (Azure Queue ``visibility_timeout``)."""

    def send(self, payload: str, delay_seconds: float) -> None: ...


def poll_message(
    job: SandboxJob,
    now: datetime,
    provider: SandboxProvider,
    queue: DelayedQueue,
    store: JobStore,
    *,
    schedule: PollSchedule | None = None,
) -> Step:
    """Handle one poll message: advance, save the job, and enqueue the next poll when not done.
    Returns the step; the caller applies :func:`outcome` to a terminal one."""
    job, step = advance(job, now, provider, schedule=schedule)
    store.save(job)
    if isinstance(step, Poll):
        queue.send(job.model_dump_json(), step.after_seconds)
    return step
