"""The UI's run model: events in seq order, replays that overlap, a run lost with its worker."""

from tltui.core.protocol.events import Epoch, Failed, Progress
from tltui.ui.run_model import MAX_POINTS, RunModel, thin


def epoch(seq: int, n: int, val_acc: float) -> Epoch:
    return Epoch(seq=seq, epoch=n, train_loss=1.0 / n, train_acc=0.5, val_loss=1.0, val_acc=val_acc,
                 lrs={"head": 0.01}, images_per_s=10.0, elapsed=n, eta=0.0)


def test_a_replay_that_overlaps_live_events_adds_nothing_twice():
    run = RunModel("r1", status="running")
    assert run.apply(epoch(1, 1, 0.4)) and run.apply(epoch(2, 2, 0.6))
    assert not run.apply(epoch(1, 1, 0.4))
    assert [e.epoch for e in run.epochs] == [1, 2] and run.best.val_acc == 0.6


def test_a_lost_run_ends_by_the_failed_event_its_new_worker_wrote():
    run = RunModel("r1", status="running")
    run.apply(Progress(seq=1, epoch=1, step=2, steps=4, train_loss=2.0, train_acc=0.25,
                       images_per_s=5.0, elapsed=1.0, eta=3.0))
    run.mark_lost("worker lost")
    assert run.status == "interrupted" and run.lost and not run.running
    run.apply(Failed(seq=2, reason="worker stopped while training", hint="tltui runs resume r1"))
    assert run.status == "failed" and not run.lost and run.end.reason.startswith("worker stopped")
    assert run.train_points == [(0.5, 2.0, 0.25)]


def test_a_finished_run_is_not_marked_lost_afterwards():
    run = RunModel("r1", status="running")
    run.apply(Failed(seq=1, reason="NaN loss"))
    run.mark_lost("worker lost")
    assert run.status == "failed" and not run.lost


def test_long_curves_are_thinned_keeping_both_ends():
    points = [(float(i), float(i)) for i in range(1000)]
    thinned = thin(points)
    assert len(thinned) <= MAX_POINTS and thinned[0] == points[0] and thinned[-1] == points[-1]
