"""Coordinate weights for calibrated joint DTW (``crossglg baseline dtw --learn-weights``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crossglg.baselines.dtw import Matching, exemplar_distances
from crossglg.baselines.dtw_weights import CoordinateWeights, LearnedWeights, train_map
from crossglg.errors import UserError
from crossglg.vocab.layouts import get_layout
from tests.helpers import limit_file_size, msr_rand1_protocol, run_script


def _clips(rng: np.random.Generator, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes told apart by joint 0's motion; joint 1 moves at random, far more widely."""
    t = np.linspace(0, 2 * np.pi, 16)
    x, y = [], []
    for c in range(3):
        for _ in range(per_class):
            signal = np.stack([np.sin((c + 1) * t), np.cos((c + 1) * t), 0 * t], 1) + rng.normal(
                0, 0.05, (16, 3)
            )
            x.append(np.concatenate([signal, rng.normal(0, 1.5, (16, 3))], 1))
            y.append(c)
    return np.asarray(x, dtype=np.float32), np.asarray(y)


def test_training_turns_down_the_coordinates_that_carry_no_class() -> None:
    x, y = _clips(np.random.default_rng(0), 4)
    ticks = []
    fmap = train_map(
        CoordinateWeights(6), x, y, seed=1, episodes=40, penalty=1e-2, on_episode=lambda: ticks.append(1)
    )
    assert len(ticks) == 40  # one progress tick per episode
    w = fmap.weight.detach().numpy()
    assert w[3:].max() < 1.0 < w[:2].min()  # the jittering joint down, the moving x and y up
    held, truth = _clips(np.random.default_rng(1), 3)
    plain = exemplar_distances(held, held[::3]).argmin(1)
    weighted = exemplar_distances(held, held[::3], Matching(weights=tuple(w))).argmin(1)
    assert (weighted == truth).mean() > (plain == truth).mean()


def test_weights_move_to_another_sensor_with_their_joints() -> None:
    msr, kinect = get_layout("msr20"), get_layout("kinect20")
    w = np.random.default_rng(2).uniform(0.5, 1.5, (20, 3))
    learned = LearnedWeights("msr20", tuple(map(tuple, w.tolist())), False, (1, 2), 1)
    clip = np.random.default_rng(3).normal(size=(5, 20, 3))
    joints = msr.mapping_to(kinect)  # kinect joint j is MSR joint joints[j]
    moved = np.asarray(learned.for_layout(kinect)).reshape(20, 3)
    np.testing.assert_allclose(clip[:, joints] * moved, (clip * w)[:, joints])
    assert learned.for_layout(msr) == tuple(w.reshape(-1))


def test_a_saved_file_reads_back(tmp_path) -> None:
    learned = LearnedWeights(
        "msr20", tuple((1.0, 0.5, 2.0) for _ in range(20)), True, (1, 3), 7, "msr-action3d"
    )
    learned.save(tmp_path / "w.json")
    assert LearnedWeights.load(tmp_path / "w.json") == learned
    # files written before the dataset was recorded still read, with no dataset
    (tmp_path / "old.json").write_text(json.dumps(_doc()))
    assert LearnedWeights.load(tmp_path / "old.json").dataset == ""


def test_weights_learned_on_a_tested_class_are_refused(tmp_path) -> None:
    path = tmp_path / "w.json"
    LearnedWeights(
        "msr20", tuple((1.0, 1.0, 1.0) for _ in range(20)), False, (1, 2, 3), 1, "msr-action3d"
    ).save(path)
    learned = LearnedWeights.load(path)  # the message names the file it was read from
    with pytest.raises(UserError, match=r"w\.json: learned on msr-action3d class 3, novel in this protocol"):
        learned.check_unseen("msr-action3d", [3, 11, 12])
    with pytest.raises(UserError, match="classes 1, 2, novel"):
        learned.check_unseen("msr-action3d", np.array([2, 1, 20]))
    learned.check_unseen("msr-action3d", [4, 5])  # only auxiliary classes were learned on
    learned.check_unseen("utkinect", [1, 2, 3])  # another dataset's class 1 is another action
    assert "source" not in json.loads(path.read_text())  # where a file was read from is not saved in it


def test_the_read_outs_refuse_body_frame_weights(tmp_path) -> None:
    from crossglg.baselines.dtw_weights import readout_weights

    assert readout_weights(None) is None
    path = tmp_path / "w.json"
    path.write_text(json.dumps(_doc(view=True)))
    with pytest.raises(UserError, match=r"w\.json: learned with --view"):
        readout_weights(path)
    path.write_text(json.dumps(_doc(weights=[[2, 1, 0]] * 20)))
    assert readout_weights(path).weights[0] == (2.0, 1.0, 0.0)


def test_weighted_inputs_match_as_the_weighted_metric_does() -> None:
    """The read-outs scale the frames once; the baseline scales inside its matching: same distances."""
    from crossglg.baselines.dtw import class_distances, normalise
    from crossglg.baselines.dtw_weights import dtw_inputs

    msr = get_layout("msr20")
    rng = np.random.default_rng(5)
    clips = [rng.normal(size=(int(n), 1, 20, 3)) for n in rng.integers(20, 50, 9)]
    w = rng.uniform(0.0, 2.0, (20, 3))
    learned = LearnedWeights("msr20", tuple(map(tuple, w.tolist())), False, (1,), 1)
    plain = np.stack([normalise(c, msr) for c in clips])
    scaled = dtw_inputs(clips, msr, learned)
    np.testing.assert_allclose(scaled, plain * w.reshape(-1))
    np.testing.assert_array_equal(dtw_inputs(clips, msr, None), plain)
    labels = np.array([0, 1, 2])
    _, by_inputs = class_distances(scaled[3:], scaled[:3], labels, calibrated=True)
    _, by_matching = class_distances(
        plain[3:], plain[:3], labels, True, Matching(weights=tuple(w.reshape(-1)))
    )
    np.testing.assert_allclose(by_inputs, by_matching)
    _, unweighted = class_distances(plain[3:], plain[:3], labels, calibrated=True)
    assert not np.allclose(by_inputs, unweighted)


def test_weights_that_cannot_be_written_are_one_line(tmp_path) -> None:
    learned = LearnedWeights("msr20", tuple((1.0, 1.0, 1.0) for _ in range(20)), False, (1,), 1)
    (tmp_path / "taken").mkdir()
    with pytest.raises(
        UserError, match=r"taken: weights not written \(Is a directory\); an existing file is unchanged$"
    ) as err:
        learned.save(tmp_path / "taken")  # a folder stands where the file should go
    assert "taken" in str(err.value) and "\n" not in str(err.value)


def _doc(**change) -> dict:
    doc = {"kind": "crossglg-dtw-weights", "layout": "msr20", "weights": [[1, 1, 1]] * 20,
           "view": False, "classes": [1], "seed": 1}  # fmt: skip
    doc.update(change)
    return {k: v for k, v in doc.items() if v is not None}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe{", "not a weights file"),
        (b"[1, 2]", "not a weights file (kind should be"),
        (json.dumps(_doc(kind="crossglg-export")).encode(), "kind should be"),
        (json.dumps(_doc(weights=None)).encode(), "field 'weights' missing"),
        (json.dumps(_doc(layout="ntu99")).encode(), "ntu99"),
        (json.dumps(_doc(weights=[[1, 1]] * 20)).encode(), "20 rows of 3 finite, non-negative numbers"),
        (json.dumps(_doc(weights=[[1, 1, -1]] * 20)).encode(), "non-negative"),
        (json.dumps(_doc(weights=[["a", 1, 1]] * 20)).encode(), "malformed field"),
        (json.dumps(_doc(seed="x")).encode(), "malformed field"),
        (json.dumps(_doc(view="false")).encode(), "view must be true or false, got 'false'"),
        (json.dumps(_doc(dataset=3)).encode(), "dataset must be a name, got 3"),
    ],
)
def test_a_bad_weights_file_is_one_line_naming_it(tmp_path, content: bytes, message: str) -> None:
    path = tmp_path / "w.json"
    path.write_bytes(content)
    with pytest.raises(UserError, match=r"w\.json") as err:
        LearnedWeights.load(path)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_learned_weights_on_real_msr_and_moved_to_utkinect(real_data, tmp_path) -> None:
    """rand1 (bench/oneshot_eval.py's first random split): 80.3 % calibrated, 83.2 with weights
    learned on its auxiliary classes, seed 1 (docs/RESULTS.md, "A learned metric for joint DTW")."""
    for name, fmt, folder in (
        ("msr", "msr-action3d", "msr_action3d"),
        ("utk", "utkinect", "utkinect_action3d"),
    ):
        prep = run_script(
            "crossglg", "data", "prepare", real_data(folder), "--format", fmt, "--out", tmp_path / name
        )
        assert prep.returncode == 0, prep.stderr
    rand1 = msr_rand1_protocol(tmp_path)
    saved = tmp_path / "weights.json"
    args = ("crossglg", "baseline", "dtw", "--calibrated", "--json")
    res = run_script(
        *args, "--data", tmp_path / "msr", "--protocol", rand1, "--learn-weights", "--save-weights", saved
    )
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert (result["weights"], result["queries"], round(100 * result["accuracy"], 1)) == (
        "learned",
        274,
        83.2,
    )
    learned = LearnedWeights.load(saved)
    assert learned.layout == "msr20" and learned.classes == (1, 3, 7, 9, 10, 12, 14, 15, 19, 20)
    assert np.ptp(learned.weights) > 0.1  # the weights moved away from 1
    # on another sensor the file is re-indexed; UTKinect has no auxiliary class to learn on
    utk = ("--data", tmp_path / "utk", "--protocol", "utkinect-all10")
    res = run_script(*args, *utk, "--weights", saved, "--plot", tmp_path / "weights.png")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["queries"] == 189
    assert (tmp_path / "weights.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "taken.png").mkdir()  # a folder where the picture should go: one line, before any work
    res = run_script(*args, *utk, "--weights", saved, "--plot", tmp_path / "taken.png")
    assert res.returncode == 2 and "taken.png: a folder is in the way; name a new PNG file" in res.stderr
    assert res.stdout == "" and "Traceback" not in res.stderr
    # a device is refused before any work (the rename would replace the node itself)
    res = run_script(*args, *utk, "--weights", saved, "--plot", "/dev/null")
    assert res.returncode == 2 and res.stdout == ""
    assert "/dev/null: not a regular file (a device, pipe or socket); name a new PNG file" in res.stderr
    # a full disk (every file write fails): the picture fails after the accuracy is printed, so the figure is not lost
    full = tmp_path / "full.png"
    res = run_script(*args, *utk, "--weights", saved, "--plot", full, preexec_fn=limit_file_size(0))
    assert res.returncode == 2 and f"{full}: picture not written (File too large)" in res.stderr
    assert json.loads(res.stdout)["queries"] == 189 and "Traceback" not in res.stderr
    assert not full.exists() and not list(tmp_path.glob(".full.png.*"))
    res = run_script(*args, *utk, "--learn-weights")
    assert res.returncode != 0 and "trains no class" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--learn-weights", "--weights", "w.json"], "--learn-weights and --weights: choose one"),
        (["--save-weights", "w.json"], "--save-weights needs --learn-weights"),
        (["--weights", "missing.json"], "missing.json: not a weights file"),
        (["--plot", "w.png"], "--plot draws coordinate weights: add --learn-weights or --weights"),
        # checked before the data is read and a minute is spent learning
        (["--learn-weights", "--save-weights", "no/w.json"], "no/w.json: folder no does not exist"),
    ],
)
def test_weights_options_that_cannot_work_are_one_line(tmp_path, extra: list[str], message: str) -> None:
    res = run_script("crossglg", "baseline", "dtw", "--data", tmp_path, "--protocol", "msr-action3d", *extra,
                     cwd=tmp_path)  # fmt: skip
    assert res.returncode != 0 and message in res.stderr and "Traceback" not in res.stderr


def test_learning_needs_three_clips_of_two_classes() -> None:
    from crossglg.baselines.dtw_weights import learn_weights

    x, y = _clips(np.random.default_rng(4), 3)
    msr = get_layout("msr20")
    frames = np.zeros((len(x), 16, 60), dtype=np.float32)
    for labels, shown in (
        (np.zeros(len(y), dtype=int), "{0: 9}"),
        (np.where(y == 2, 1, 0)[:-1], "{0: 6, 1: 2}"),
    ):
        with pytest.raises(UserError, match="two or more auxiliary classes with three clips each") as err:
            learn_weights(frames[: len(labels)], labels, msr, view=False, dataset="msr-action3d")
        assert shown in str(err.value)


@pytest.mark.parametrize(
    "command",
    [
        ["eval", "run", "--classifier", "cosine"],
        ["predict", "export", "q.npy", "--exemplar", "a=a.npy", "--exemplar", "b=b.npy"],
        ["transfer", "export", "--data", "utk", "--protocol", "utkinect-all10", "--classifier", "jfdtw"],
    ],
)
def test_dtw_weights_without_a_joint_read_out_are_one_line(tmp_path, command: list[str]) -> None:
    """Weights no chosen read-out uses would be ignored in silence: a mistake to point out."""
    res = run_script("crossglg", *command, "--dtw-weights", "w.json", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "--dtw-weights: only the dtw, fused, ndtw read-outs use it" in res.stderr


@pytest.mark.parametrize(
    ("extra", "victim", "message"),
    [
        # written over the cache's index, with the accuracy printed and exit 0
        (
            ["--learn-weights", "--save-weights", "prep/index.json"],
            "prep/index.json",
            "name another weights file",
        ),
        (
            ["--learn-weights", "--save-weights", "prep/../prep/frames.f32"],
            "prep/frames.f32",
            "that is an input",
        ),
        (["--learn-weights", "--save-weights", "p.toml"], "p.toml", "that is an input (p.toml)"),
        (["--weights", "w.json", "--plot", "w.json"], "w.json", "name another PNG file"),
        (["--learn-weights", "--save-weights", "x.json", "--plot", "x.json"], None, "both name x.json"),
    ],
)
def test_an_output_never_replaces_an_input(
    tmp_path, extra: list[str], victim: str | None, message: str
) -> None:
    """Every output is renamed over its place, so one named like an input would replace it."""
    (tmp_path / "prep").mkdir()
    files = {
        "prep/index.json": b"{}",
        "prep/frames.f32": b"\0" * 8,
        "p.toml": b'name = "p"\n',
        "w.json": b"{}",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    res = run_script(
        "crossglg", "baseline", "dtw", "--data", "prep", "--protocol", "p.toml", *extra, cwd=tmp_path
    )
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert message in lines[0] and (
        victim is None or lines[0].startswith(f"error: {extra[-1]}: that is an input")
    )
    assert {name: (tmp_path / name).read_bytes() for name in files} == files
    assert not (tmp_path / "x.json").exists()
