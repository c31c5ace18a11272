"""The suite's markdown table and its list of targets met and missed.

Every row is one figure: chaintap's value, the baseline measured in the same
run, and the ratio chaintap / baseline (for memory and time, lower is better;
for throughput, higher). Figures not run (see `--only`) have no rows.
"""

from __future__ import annotations

from typing import Any

TARGET_ROWS_PER_S = 1_000_000
TARGET_VS_CRYO = 1.0
UNITS = {"blocks": "blocks/s", "raw_logs": "logs/s", "erc20_transfers": "rows/s"}


def _rate(value: float, unit: str = "rows/s") -> str:
    return f"{value:,.0f} {unit}"


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def _row(figure: str, ours: str, baseline: str, ratio: float | None) -> str:
    shown = "" if ratio is None else f"{ratio:.2f}x"
    return f"| {figure} | {ours} | {baseline} | {shown} |"


def table(results: dict[str, Any]) -> str:
    """The markdown table of every figure run: chaintap, baseline, ratio."""
    rows = ["| figure | chaintap | baseline | ratio |", "|---|---|---|---|"]
    if "decode" in results:
        rows += _decode_rows(results["decode"])
    if "postgres" in results:
        rows += _postgres_rows(results["postgres"])
    if "extraction" in results:
        rows += _extraction_rows(results["extraction"])
    if "scaling" in results:
        rows += _scaling_rows(results["scaling"])
    if "memory" in results:
        rows += _memory_rows(results["memory"])
    return "\n".join(rows)


def _decode_rows(one: dict[str, Any]) -> list[str]:
    rows = []
    floor = one["pyarrow_floor_rows_per_s"]
    for label, key in (
        ("1. decode+filter → blackhole", "decode_rows_per_s"),
        ("1. same, filter also on the source", "decode_pushdown_rows_per_s"),
    ):
        value = one[key]
        rows.append(
            _row(label, _rate(value), f"pyarrow read {_rate(floor)}", value / floor)
        )
        target = f"target {_rate(TARGET_ROWS_PER_S)}"
        rows.append(_row(label, _rate(value), target, value / TARGET_ROWS_PER_S))
    return rows


def _postgres_rows(two: dict[str, Any]) -> list[str]:
    label = "2. archive → decode → Postgres upsert"
    if "skipped" in two:
        return [_row(label, f"skipped: {two['skipped']}", "", None)]
    ours, copy = two["chaintap_rows_per_s"], two["psql_copy_rows_per_s"]
    return [
        _row(
            f"{label} ({two['final_rows']:,} rows)",
            _rate(ours),
            f"psql \\copy {_rate(copy)}",
            ours / copy,
        )
    ]


def _extraction_rows(three: dict[str, Any]) -> list[str]:
    rows = []
    chain = three["chain"]
    for dataset, unit in UNITS.items():
        figures = three[dataset]
        label = f"3. {dataset} from anvil ({chain['blocks']:,} blocks)"
        ours = figures["chaintap"]
        shown = _rate(ours["rows_per_s"], unit) + _mismatch(ours, figures)
        for tool in ("cryo", "ethereum-etl"):
            theirs = figures[tool]
            if "not_measured" in theirs:
                rows.append(_row(label, shown, f"{tool}: not measured: "
                                 f"{theirs['not_measured']}", None))  # fmt: skip
                continue
            baseline = f"{tool} {_rate(theirs['rows_per_s'], unit)}"
            baseline += _mismatch(theirs, figures)
            ratio = ours["rows_per_s"] / theirs["rows_per_s"]
            rows.append(_row(label, shown, baseline, ratio))
    return rows


def _mismatch(figures: dict[str, Any], dataset: dict[str, Any]) -> str:
    if figures["rows_match"]:
        return ""
    return (
        f" (read {figures['rows']:,} rows, the chain has {dataset['expected_rows']:,})"
    )


def _scaling_rows(four: dict[str, Any]) -> list[str]:
    rows = []
    for name, figures in four.items():
        if not isinstance(figures, dict) or "speedup" not in figures:
            continue
        one, two = figures["seconds"]["1"], figures["seconds"]["2"]
        cpu = {n: figures["cpu_user_s"][n] + figures["cpu_system_s"][n] for n in "12"}
        rows.append(
            _row(
                f"4. {name}: 2 workers vs 1",
                f"2 workers {two:.2f} s, {cpu['2']:.1f} CPU-s "
                f"(efficiency {figures['efficiency']:.2f})",
                f"1 worker {one:.2f} s, {cpu['1']:.1f} CPU-s",
                figures["speedup"],
            )
        )
    return rows


def _memory_rows(five: dict[str, Any]) -> list[str]:
    rss, whole = five["job_peak_rss_bytes"], five["read_whole_peak_rss_bytes"]
    rows = [
        _row(
            "5. peak RSS, every row → blackhole",
            _mib(rss),
            f"pyarrow reads the archive whole {_mib(whole)}",
            rss / whole,
        )
    ]
    first, startup = five["first_batch_seconds"], five["cli_startup_seconds"]
    label = "5. `chaintap run` → first batch"
    if first is None:
        rows.append(_row(label, "not seen in the logs", "", None))
    else:
        baseline = f"`chaintap --version` {startup:.2f} s"
        rows.append(_row(label, f"{first:.2f} s", baseline, first / startup))
    return rows


def targets(results: dict[str, Any]) -> list[str]:
    """One line per target of the figures run: met or missed, and by how much."""
    lines = []
    if "decode" in results:
        value = results["decode"]["decode_rows_per_s"]
        lines.append(
            _verdict(f"1. decode+filter ≥ {_rate(TARGET_ROWS_PER_S)}",
                     value / TARGET_ROWS_PER_S, 1.0)
        )  # fmt: skip
    if "extraction" in results:
        for dataset in UNITS:
            figures = results["extraction"][dataset]
            cryo = figures["cryo"]
            label = f"3. {dataset} ≥ {TARGET_VS_CRYO:.1f}x cryo"
            if "not_measured" in cryo:
                lines.append(f"{label}: not measured ({cryo['not_measured']})")
                continue
            ratio = figures["chaintap"]["rows_per_s"] / cryo["rows_per_s"]
            lines.append(_verdict(label, ratio, TARGET_VS_CRYO))
    return lines


def _verdict(label: str, ratio: float, target: float) -> str:
    return f"{label}: {'met' if ratio >= target else 'missed'} ({ratio:.2f}x)"
