"""Weight averaging (swa_epochs): the running mean, BatchNorm re-estimation, and a real run."""

from __future__ import annotations

import json

import pytest
import torch

from crossglg.errors import UserError
from crossglg.train.averaging import WeightAverage, recompute_batchnorm


def _net(weight: float, batches_seen: int) -> torch.nn.Module:
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(weight)
        net[1].running_mean.fill_(weight)
    net[1].num_batches_tracked.fill_(batches_seen)
    return net


def test_the_average_is_the_mean_of_the_window_and_restarts_with_another_window():
    avg = WeightAverage()
    for w, seen in ((1.0, 5), (2.0, 6), (6.0, 7)):
        avg.update(_net(w, seen), first=10)
    state = avg.averaged_state(_net(0.0, 0))
    assert avg.count == 3 and torch.allclose(state["0.weight"], torch.full((2, 2), 3.0))
    assert torch.allclose(state["1.running_mean"], torch.full((2,), 3.0))
    assert state["1.num_batches_tracked"].item() == 7 and state["0.weight"].dtype == torch.float32
    again = WeightAverage()
    again.load_state_dict(avg.state_dict())
    again.update(_net(7.0, 8), first=10)
    assert again.count == 4 and torch.allclose(
        again.averaged_state(_net(0, 0))["0.bias"], torch.full((2,), 4.0)
    )
    again.update(_net(9.0, 9), first=12)  # a run resumed with another --epochs: the old snapshots are gone
    assert again.count == 1 and torch.allclose(
        again.averaged_state(_net(0, 0))["0.bias"], torch.full((2,), 9.0)
    )
    with pytest.raises(ValueError, match="no epoch"):
        WeightAverage().averaged_state(_net(0, 0))


def test_batchnorm_statistics_are_re_estimated_as_an_exact_mean_over_the_batches():
    bn = torch.nn.BatchNorm1d(1, momentum=0.1).eval()
    bn.running_mean.fill_(100.0)
    batches = [torch.tensor([[1.0], [3.0]]), torch.tensor([[5.0], [7.0]])]
    recompute_batchnorm(bn, batches, bn)
    assert bn.running_mean.item() == pytest.approx(4.0)  # the batch means 2 and 6, weighted equally
    assert bn.running_var.item() == pytest.approx(2.0)  # each batch's unbiased variance is 2
    assert bn.momentum == 0.1 and not bn.training


@pytest.mark.slow
def test_a_run_with_weight_averaging_delivers_the_mean_of_its_last_epochs(
    small, run_cli, train_args, tmp_path
):
    fast = ("--deterministic", "--set", "dc_samples=20")
    run_cli(train_args(tmp_path / "avg", "--epochs", "4", "--set", "swa_epochs=2", *fast, text=False))
    run_cli(train_args(tmp_path / "three", "--epochs", "3", *fast, text=False))
    summary = json.loads((tmp_path / "avg" / "summary.json").read_text())
    assert summary["averaged_epochs"] == [3, 4] and summary["best_epoch"] == 4
    best = torch.load(tmp_path / "avg" / "best.pt", weights_only=False)["model"]
    fourth = torch.load(tmp_path / "avg" / "last.pt", weights_only=False)["model"]
    third = torch.load(tmp_path / "three" / "last.pt", weights_only=False)["model"]
    stats = ("running_mean", "running_var", "num_batches_tracked")
    weights = [k for k in best if not k.endswith(stats)]
    assert weights and all(torch.allclose(best[k], (third[k] + fourth[k]) / 2, atol=1e-6) for k in weights)
    # BatchNorm statistics are measured again for the averaged weights, not averaged
    means = [k for k in best if k.endswith("running_mean")]
    assert any(not torch.allclose(best[k], (third[k] + fourth[k]) / 2) for k in means)
    results = json.loads((tmp_path / "avg" / "eval" / "results.json").read_text())
    assert results["checkpoint"].endswith("best.pt") and results["epoch"] == 4
    # resumed with another --epochs, the window moves (2-3 -> 3-4) and the mean restarts with the epochs
    # trained after the resume: the snapshot of epoch 3 belongs to the old run and is gone
    run_cli(train_args(tmp_path / "resumed", "--epochs", "3", "--set", "swa_epochs=2", *fast, text=False))
    run_cli(["train", "--out", str(tmp_path / "resumed"), "--resume", "--epochs", "4"])
    assert json.loads((tmp_path / "resumed" / "summary.json").read_text())["averaged_epochs"] == [4, 4]
    again = torch.load(tmp_path / "resumed" / "best.pt", weights_only=False)["model"]
    assert all(torch.equal(again[k], fourth[k]) for k in weights)
    with pytest.raises(UserError, match="swa_epochs=5 averages more epochs than the run has"):
        run_cli(train_args(tmp_path / "bad", "--epochs", "4", "--set", "swa_epochs=5", text=False))
