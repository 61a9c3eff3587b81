"""The poll state machine: schedule, deadline, report fetch, and the outcome under the policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tap_core.attachments.policy import AttachmentPolicy
from tap_core.attachments.sandbox import (
    Concluded,
    DroppedFile,
    FetchReport,
    Poll,
    PollSchedule,
    SandboxError,
    SandboxJob,
    SandboxReport,
    SandboxStatus,
    SubmissionId,
    TimedOut,
    Unanalysed,
    UnsupportedFile,
    advance,
    first_poll,
    message_outcome,
    next_step,
    outcome,
    poll_message,
    start_job,
)
from tap_core.model.findings import Verdict

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def job(timeout: int = 120, polls: int = 0) -> SandboxJob:
    return SandboxJob(sha256="ab" * 32, provider="fake", submission_id="1", submitted_at=T0,
                      timeout_seconds=timeout, polls=polls)  # fmt: skip


def test_poll_schedule_backs_off_and_caps() -> None:
    schedule = PollSchedule(first_seconds=10, factor=2, max_seconds=45)
    assert [schedule.delay(n) for n in range(5)] == [10, 20, 40, 45, 45]
    assert first_poll(schedule).after_seconds == 10


def test_pending_polls_never_past_deadline() -> None:
    step = next_step(job(timeout=120, polls=3), T0 + timedelta(seconds=100), SandboxStatus.RUNNING)
    assert step == Poll(after_seconds=20.0)  # backoff would say 50 s; only 20 s remain


def test_deadline_gives_timeout() -> None:
    step = next_step(job(timeout=60), T0 + timedelta(seconds=60), SandboxStatus.PENDING)
    assert isinstance(step, TimedOut)


def test_done_asks_for_report_then_concludes_even_late() -> None:
    assert isinstance(next_step(job(), T0, SandboxStatus.DONE), FetchReport)
    report = SandboxReport(provider="fake", files_dropped=[DroppedFile(path=r"C:\x.exe")])
    step = next_step(job(timeout=60), T0 + timedelta(seconds=300), SandboxStatus.DONE, report)
    assert isinstance(step, Concluded) and step.verdict is Verdict.MALICIOUS


def test_cut_short_run_is_not_clean() -> None:
    timed_out = next_step(job(), T0, SandboxStatus.DONE, SandboxReport(provider="fake", timed_out=True))
    crashed = next_step(
        job(), T0, SandboxStatus.DONE, SandboxReport(provider="fake", errors=["unsupported_api"])
    )
    assert isinstance(timed_out, TimedOut) and isinstance(crashed, Unanalysed)
    # what was seen before the cut still decides when it is bad
    bad = SandboxReport(provider="fake", timed_out=True, files_dropped=[DroppedFile(path=r"C:\x.exe")])
    step = next_step(job(), T0, SandboxStatus.DONE, bad)
    assert isinstance(step, Concluded) and step.verdict is Verdict.MALICIOUS


def test_failed_run_is_unanalysed() -> None:
    assert isinstance(next_step(job(), T0, SandboxStatus.FAILED), Unanalysed)


def test_full_schedule_for_seven_minutes() -> None:
    """Simulated clock: how many polls a never-finishing run costs before the timeout."""
    current, now, steps = job(timeout=420), T0, 0
    while True:
        step = next_step(current, now, SandboxStatus.RUNNING)
        if not isinstance(step, Poll):
            break
        steps += 1
        now += timedelta(seconds=step.after_seconds)
        current = current.polled(SandboxStatus.RUNNING)
    assert isinstance(step, TimedOut)
    assert now == T0 + timedelta(seconds=420)
    assert steps <= 12


@pytest.mark.parametrize(
    ("verdict", "action", "notify"),
    [
        (Verdict.CLEAN, "deliver", False),
        (Verdict.MALICIOUS, "quarantine", True),
        (Verdict.SUSPICIOUS, "hold", True),
    ],
)
def test_outcome_of_a_verdict(verdict: Verdict, action: str, notify: bool) -> None:
    step = Concluded(verdict=verdict, report=SandboxReport(provider="fake"))
    result = outcome(step, AttachmentPolicy())
    assert (result.action, result.notify_admin, result.verdict) == (action, notify, verdict)


@pytest.mark.parametrize(
    ("timeout_action", "action", "banner"),
    [("deliver_with_warning", "tag", True), ("tag", "tag", True), ("hold", "hold", False)],
)
def test_timeout_follows_policy(timeout_action: str, action: str, banner: bool) -> None:
    policy = AttachmentPolicy(timeout_action=timeout_action)  # type: ignore[arg-type]
    for step in (TimedOut(), Unanalysed(reason="no sandbox for vbs")):
        result = outcome(step, policy)
        assert (result.action, result.banner) == (action, banner)
        assert result.verdict is None


def test_message_outcome_strictest_wins() -> None:
    clean = Concluded(verdict=Verdict.CLEAN, report=SandboxReport(provider="fake"))
    bad = Concluded(verdict=Verdict.MALICIOUS, report=SandboxReport(provider="fake"))
    policy = AttachmentPolicy(timeout_action="deliver_with_warning")
    assert message_outcome([clean, TimedOut()], policy).action == "tag"
    assert message_outcome([clean, bad, TimedOut()], policy).action == "quarantine"
    assert message_outcome([], policy).action == "deliver"


class FakeProvider:
    name = "fake"

    def __init__(self, statuses: list[SandboxStatus], report: SandboxReport | None = None) -> None:
        self.statuses, self._report, self.submitted = statuses, report, 0

    def submit(self, name: str, data: bytes, timeout_seconds: int) -> SubmissionId:
        if name.endswith(".vbs"):
            raise UnsupportedFile("vbs")
        if name.endswith(".down"):
            raise SandboxError("down")
        self.submitted += 1
        return SubmissionId("42")

    def status(self, submission_id: SubmissionId) -> SandboxStatus:
        if not self.statuses:
            raise SandboxError("blip")
        return self.statuses.pop(0)

    def report(self, submission_id: SubmissionId) -> SandboxReport:
        assert self._report is not None
        return self._report


class ListQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, float]] = []

    def send(self, payload: str, delay_seconds: float) -> None:
        self.sent.append((payload, delay_seconds))


class DictStore:
    def __init__(self) -> None:
        self.jobs: dict[str, SandboxJob] = {}

    def save(self, job: SandboxJob) -> None:
        self.jobs[job.submission_id] = job

    def load(self, submission_key: str) -> SandboxJob | None:
        return self.jobs.get(submission_key)


def test_start_job_and_poll_messages_until_verdict() -> None:
    provider = FakeProvider([SandboxStatus.PENDING, SandboxStatus.RUNNING, SandboxStatus.DONE],
                            SandboxReport(provider="fake"))  # fmt: skip
    policy = AttachmentPolicy(sandbox_timeout_seconds=120)
    started = start_job(provider, "a.exe", b"MZ", "ab" * 32, T0, policy, tenant_id="t", message_id="m")
    assert isinstance(started, SandboxJob) and started.deadline == T0 + timedelta(seconds=120)
    queue, store, now, current = ListQueue(), DictStore(), T0, started
    for _ in range(3):
        step = poll_message(current, now, provider, queue, store)
        current = store.jobs["42"]
        now += timedelta(seconds=30)
    assert isinstance(step, Concluded) and step.verdict is Verdict.CLEAN
    assert len(queue.sent) == 2 and current.polls == 3
    assert SandboxJob.model_validate_json(queue.sent[0][0]).polls == 1  # the message carries the job


def test_provider_blip_keeps_polling() -> None:
    job_, step = advance(job(), T0, FakeProvider([]))
    assert isinstance(step, Poll) and job_.polls == 1


def test_unsupported_or_down_provider_is_unanalysed() -> None:
    policy = AttachmentPolicy()
    assert isinstance(start_job(FakeProvider([]), "a.vbs", b"x", "s", T0, policy), Unanalysed)
    assert isinstance(start_job(FakeProvider([]), "a.down", b"x", "s", T0, policy), Unanalysed)
