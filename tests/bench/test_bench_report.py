"""The suite's table shows each ratio as chaintap / baseline, and says when a
baseline could not be measured instead of showing a figure for it."""

from __future__ import annotations

from typing import Any

from report import table, targets


def _measured(rows_per_s: float, rows: int = 1000) -> dict[str, Any]:
    return {"rows_per_s": rows_per_s, "rows": rows, "rows_match": True}


def _extraction() -> dict[str, Any]:
    reason = "no interpreter for it here (python3.10)"
    figures = {
        "blocks": (3000.0, 6000.0),
        "raw_logs": (50_000.0, 40_000.0),
        "erc20_transfers": (50_000.0, 50_000.0),
    }
    out: dict[str, Any] = {"chain": {"blocks": 1000}}
    for dataset, (ours, cryo) in figures.items():
        out[dataset] = {
            "expected_rows": 1000,
            "chaintap": _measured(ours),
            "cryo": _measured(cryo),
            "ethereum-etl": {"not_measured": reason},
        }
    out["blocks"]["chaintap"] = {"rows_per_s": 3000.0, "rows": 999, "rows_match": False}
    return out


def test_extraction_rows_carry_ratios_and_reasons() -> None:
    text = table({"extraction": _extraction()})
    lines = text.splitlines()

    assert (
        "| 3. blocks from anvil (1,000 blocks) | 3,000 blocks/s (read 999 rows, "
        "the chain has 1,000) | cryo 6,000 blocks/s | 0.50x |" in lines
    )
    assert any("cryo 40,000 logs/s | 1.25x |" in line for line in lines)
    not_measured = [line for line in lines if "ethereum-etl" in line]
    assert len(not_measured) == 3
    assert all("not measured: no interpreter" in line for line in not_measured)
    assert all(line.endswith("|  |") for line in not_measured)  # no ratio


def test_targets_say_met_and_missed_against_cryo() -> None:
    lines = targets({"extraction": _extraction()})

    assert lines == [
        "3. blocks ≥ 1.0x cryo: missed (0.50x)",
        "3. raw_logs ≥ 1.0x cryo: met (1.25x)",
        "3. erc20_transfers ≥ 1.0x cryo: met (1.00x)",
    ]


def test_scaling_rows_show_speedup_and_cpu() -> None:
    figures = {
        "seconds": {"1": 6.0, "2": 4.0},
        "cpu_user_s": {"1": 5.0, "2": 7.0},
        "cpu_system_s": {"1": 1.0, "2": 2.0},
        "speedup": 1.5,
        "efficiency": 0.75,
    }
    text = table({"scaling": {"runs_per_point": 3, "job": figures}})

    assert text.splitlines()[-1] == (
        "| 4. job: 2 workers vs 1 | 2 workers 4.00 s, 9.0 CPU-s (efficiency 0.75) "
        "| 1 worker 6.00 s, 6.0 CPU-s | 1.50x |"
    )
