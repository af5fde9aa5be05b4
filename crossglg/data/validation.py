"""Sample checks and the validation report that ``crossglg data prepare`` writes.

A sample that fails a check is skipped and named in the report, so a broken file can
never reach training as NaN (stnoah1/infogcn#7) or as a silent all-zero clip.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from crossglg.data.readers.base import Problem, Sample
from crossglg.outputs import png_figure, write_whole


def check_sample(sample: Sample, num_joints: int, max_bodies: int, num_classes: int) -> Problem | None:
    """The first reason to skip ``sample``, or None when it is fit for the cache."""
    problem = check_data(sample.name, sample.data, num_joints, max_bodies)
    if problem is None and not 0 <= sample.label < num_classes:
        problem = Problem(sample.name, "bad-label", f"label {sample.label} outside 0..{num_classes - 1}")
    return problem


def check_data(name: str, d: np.ndarray, num_joints: int, max_bodies: int | None = None) -> Problem | None:
    """The checks on a [T, M, V, 3] sequence itself, shared by ``prepare`` and ``predict``.

    ``predict`` applies them to query and exemplar files (no bound on persons: it keeps the
    most active ones), so a sequence ``prepare`` would skip is never scored either.
    """
    if d.ndim != 4 or d.shape[-1] != 3:
        return Problem(name, "joints", f"array shape {d.shape}, expected [T, M, V, 3]")
    if d.shape[2] != num_joints:
        return Problem(name, "joints", f"{d.shape[2]} joints per body, the layout has {num_joints}")
    if max_bodies is not None and d.shape[1] > max_bodies:
        return Problem(name, "persons", f"{d.shape[1]} persons, at most {max_bodies} allowed")
    if d.shape[0] == 0:
        return Problem(name, "empty", "no frames")
    if d.shape[0] == 1:
        return Problem(name, "one-frame", "a single frame carries no motion")
    bad = ~np.isfinite(d).reshape(d.shape[0], -1).all(axis=1)
    if bad.any():
        return Problem(
            name,
            "nan",
            f"{int(bad.sum())} of {d.shape[0]} frames hold NaN or inf (first: frame {int(np.argmax(bad)) + 1})",
        )
    if not np.any(d):
        return Problem(name, "all-zero", "every coordinate is 0")
    return None


def frame_histogram(lengths: np.ndarray, bins: int = 20) -> dict[str, list[float]]:
    if lengths.size == 0:
        return {"edges": [], "counts": []}
    counts, edges = np.histogram(lengths, bins=bins)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def build_report(
    *, scan_info: dict[str, Any], problems: list[Problem], names: list[str], lengths: np.ndarray,
    expected: list[str] | None, expected_count: int | None,
) -> dict[str, Any]:  # fmt: skip
    """Everything a user needs to trust (or fix) a prepared cache, as JSON-ready data."""
    present = set(names)
    missing = sorted(set(expected) - present) if expected is not None else []
    by_kind = Counter(p.kind for p in problems)
    return {
        **scan_info,
        "samples": len(names),
        # samples lost, not problems: one unreadable 512-sample chunk counts 512
        "skipped": sum(p.samples for p in problems if p.kind not in NOTE_KINDS),
        "problems_by_kind": dict(sorted(by_kind.items())),
        "problems": [p.as_dict() for p in problems],
        "missing_vs_official": missing,
        "expected_count": expected_count,
        "frames": {
            "min": int(lengths.min()) if lengths.size else 0,
            "max": int(lengths.max()) if lengths.size else 0,
            "mean": round(float(lengths.mean()), 2) if lengths.size else 0.0,
            "total": int(lengths.sum()),
            "histogram": frame_histogram(lengths),
        },
    }


# kinds that describe the source (or a sample kept with a note) rather than a sample thrown away
NOTE_KINDS = frozenset({"label", "missing", "official-missing"})


def report_markdown(report: dict[str, Any], max_rows: int = 200) -> str:
    f = report["frames"]
    lines = [
        f"# Validation report: {report['source']}",
        "",
        f"- format `{report['format']}`, dataset `{report['dataset']}`, layout `{report['layout']}`",
        f"- units read: {report['units']}; samples kept: **{report['samples']}**; skipped: {report['skipped']}",
        f"- frames per sample: {f['min']}–{f['max']}, mean {f['mean']} (histogram: frames_histogram.png)",
    ]
    if report.get("expected_count"):
        lines.append(f"- documented usable samples for the full data set: {report['expected_count']}")
    if report["missing_vs_official"]:
        shown = ", ".join(report["missing_vs_official"][:50])
        more = len(report["missing_vs_official"]) - 50
        lines.append(
            f"- missing vs the official list ({len(report['missing_vs_official'])}): {shown}"
            + (f" … (+{more})" if more > 0 else "")
        )
    lines += ["", "## Problems", ""]
    if not report["problems"]:
        lines.append("None.")
    else:
        lines += ["| kind | count |", "|---|---|"] + [
            f"| {k} | {n} |" for k, n in report["problems_by_kind"].items()
        ]
        lines += ["", "| where | kind | message |", "|---|---|---|"]
        for p in report["problems"][:max_rows]:
            lines.append(f"| {p['where']} | {p['kind']} | {p['message']} |")
        if len(report["problems"]) > max_rows:
            lines.append(f"\n{len(report['problems']) - max_rows} more in report.json.")
    return "\n".join(lines) + "\n"


def write_report(folder: Path, report: dict[str, Any], lengths: np.ndarray) -> None:
    write_whole(folder / "report.json", json.dumps(report, indent=1) + "\n", "report")
    write_whole(folder / "report.md", report_markdown(report), "report")
    _histogram_png(folder / "frames_histogram.png", lengths, report["source"])


def _histogram_png(path: Path, lengths: np.ndarray, title: str) -> None:
    with png_figure(path, dpi=90, figsize=(6, 3.5)) as (fig, ax):
        if lengths.size:
            ax.hist(lengths, bins=min(50, max(5, int(np.sqrt(lengths.size)))), color="#4477aa")
        ax.set_xlabel("frames per sample")
        ax.set_ylabel("samples")
        ax.set_title(Path(title).name, fontsize=9)
        fig.tight_layout()
