"""What scontrol answers, as the remote follower reads it: a state, a purged job, or nothing
decided (a busy controller must not end a run that SLURM requeued)."""

from __future__ import annotations

from rave_gui.backend.remote.mirror import job_answer

RUNNING = (
    "JobId=7 JobName=rave-drums UserId=root(0) GroupId=root(0) Priority=1 JobState=RUNNING "
    "Reason=None Dependency=(null) Requeue=1 Restarts=1 BatchFlag=1 ExitCode=0:0"
)


def test_a_job_line_gives_its_fields() -> None:
    fields, unknown = job_answer(RUNNING)
    assert (fields["JobState"], fields["Restarts"], fields["Reason"]) == ("RUNNING", "1", "None")
    assert unknown == ""


def test_a_purged_job_is_gone_not_unknown() -> None:
    fields, unknown = job_answer("slurm_load_jobs error: Invalid job id specified")
    assert "JobState" not in fields and unknown == ""


def test_a_controller_that_does_not_answer_decides_nothing() -> None:
    for text in (
        "slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
        "slurm_load_jobs error: Socket timed out on send/recv operation",
        "error: Command '['scontrol', 'show', 'job', '-o', '7']' timed out after 30 seconds",
    ):
        fields, unknown = job_answer(text)
        assert "JobState" not in fields and unknown == text
