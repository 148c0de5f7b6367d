"""What the driver prints for a reported epoch (the workers' own printing is off)."""

from smoot_dist.launch.ray_callbacks import epoch_lines
from smoot_dist.runs.tracking import flat_epoch_metrics
from smoot_dist.training.trainer import format_epoch


def _metrics(epoch):
    return {"epoch": epoch, "workers": 2, "train_ce": 1.5, "train_kl": 0.25, "train_accuracy": 0.5,
            "test_accuracy": 0.625, "test_loss": 1.0, "epoch_time_s": 3.25,
            "k": {"min": 340, "median": 389.5, "max": 419, "mean_fraction": 0.49,
                  "share_at_min": 0.0, "share_at_max": 0.0, "n": 3000}}


def test_a_reported_epoch_prints_as_the_in_process_line():
    flat = flat_epoch_metrics(_metrics(3))  # what ray.train.report carries: floats
    assert epoch_lines(flat, 5) == [format_epoch(_metrics(3), 5)]
    assert epoch_lines(flat, 5)[0].startswith("epoch 3/5  ce 1.5000")
    assert "K min/med/max 340/389.5/419" in epoch_lines(flat, 5)[0]


def test_rrr_s_second_term_is_named_its_penalty_not_a_kl():
    from smoot_dist.method.step import second_term_name

    assert [second_term_name(m) for m in ("traditional", "sgt", "smoot", "random_mask", "rrr")] \
        == ["kl", "kl", "kl", "kl", "penalty"]
    flat = flat_epoch_metrics(_metrics(3))
    [line] = epoch_lines(flat, 5, second_term_name("rrr"))
    assert line == format_epoch(_metrics(3), 5, "penalty")
    assert line.startswith("epoch 3/5  ce 1.5000  penalty 0.2500  ") and " kl " not in line


def test_the_first_epoch_after_a_restart_says_so_first():
    flat = {**flat_epoch_metrics(_metrics(4)), "resumed_after": 3.0}
    assert epoch_lines(flat, 5)[0] == "resumed after epoch 3 on 2 worker(s)"
    assert epoch_lines(flat, 5)[1].startswith("epoch 4/5 ")
    # a damaged checkpoint skipped on remote storage (launch/older_checkpoint.py): said first
    skipped = epoch_lines({**flat, "skipped": "warning: skipping damaged checkpoint c"}, 5)
    assert skipped[:2] == ["warning: skipping damaged checkpoint c",
                           "resumed after epoch 3 on 2 worker(s)"]


def test_progress_reports_spread_over_an_epoch_with_a_line_each_ten_percent():
    from smoot_dist.training.step_progress import StepReport, report_steps

    many = report_steps(400)
    assert list(many) == list(range(20, 401, 20))  # 20 reports: MLflow's step metrics
    assert [s for s, line in many.items() if line] == list(range(40, 400, 40))  # 9 lines
    assert list(report_steps(5)) == [1, 2, 3, 4, 5]  # fewer steps than reports: every step
    r = StepReport(epoch=2, epochs=3, step=100, steps=400, wants_line=True, images=25600,
                   seconds=10.0, loss=0.5, accuracy=0.75)
    assert r.global_step == 500
    assert r.line() == ("  epoch 2/3  step 100/400 (25%)  2560 img/s  ETA 30 s  loss 0.5000  "
                        "acc 0.7500")
    assert StepReport.from_dict(r.to_dict()) == r and StepReport.from_dict("epoch 1/3 ...") is None


def test_a_resume_from_behind_what_mlflow_holds_says_so_once():
    """On remote storage the checkpoint a run resumes from is known only once Ray Train found
    it: the first resumed epoch's lines say which epochs MLflow holds beyond it (trained again,
    MLflow keeping their first values), at the job's own resume and not at later restarts."""
    from smoot_dist.launch.ray_callbacks import EpochRelay

    flat = {**flat_epoch_metrics(_metrics(2)), "resumed_after": 1.0}
    held = ("abc", frozenset({1, 2, 3}))
    lines = epoch_lines(flat, 5, replay=held)
    assert lines[0] == "resumed after epoch 1 on 2 worker(s)" and lines[2].startswith("epoch 2/5 ")
    assert lines[1].startswith("note: MLflow run abc has epochs 2-3 from before the checkpoint "
                               "this run resumes from (epoch 1); they are trained again")
    assert len(epoch_lines({**flat, "resumed_after": 3.0}, 5, replay=held)) == 2  # none ahead
    assert len(epoch_lines(flat, 5)) == 2  # nothing held, or a resume known before the start

    class Lines(list):
        put = list.append

    relayed = Lines()
    relay = EpochRelay(relayed, 5, replay=held)
    for _ in range(2):  # the job's own resume, then a later restart of the same job
        relay.after_report(None, [flat], None)
    assert sum(line.startswith("note: MLflow run abc") for line in relayed) == 1
