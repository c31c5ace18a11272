"""Each kind of mistake comes with a hint that names the likely fix."""

from __future__ import annotations

import pytest

from spec.helpers import by_path, problems_of


def _pipeline(source: str = "", sink: str = "", top: str = "") -> str:
    source = source or "{type: dataset, dataset_name: base.raw_logs}"
    sink = sink or "{type: blackhole, from: logs}"
    return f"name: p\n{top}sources:\n  logs: {source}\nsinks:\n  out: {sink}\n"


def _only(text: str, path: str) -> tuple[str, str | None]:
    found = by_path(problems_of(text))
    assert list(found) == [path], found
    (problem,) = found[path]
    return problem.message, problem.hint


def test_unknown_key_hints_the_nearest_key() -> None:
    text = _pipeline("{type: dataset, dataset_name: base.raw_logs, startblock: 5}")
    assert _only(text, "sources.logs.startblock") == (
        "unknown key 'startblock'",
        "did you mean start_block?",
    )


def test_unknown_key_without_a_near_one_lists_the_valid_keys() -> None:
    text = _pipeline(sink="{type: blackhole, from: logs, zzz: 1}")
    message, hint = _only(text, "sinks.out.zzz")
    assert message == "unknown key 'zzz'"
    assert hint == "valid keys: type, from"


def test_key_of_another_sink_type_says_where_it_belongs() -> None:
    text = _pipeline(sink="{type: print, from: logs, secret_name: S}")
    _, hint = _only(text, "sinks.out.secret_name")
    assert hint is not None and hint.startswith("secret_name belongs to postgres")


def test_misspelt_top_level_section() -> None:
    text = _pipeline(top="transfroms: {}\n")
    assert _only(text, "transfroms")[1] == "did you mean transforms?"


def test_transactions_means_raw_transactions() -> None:
    text = _pipeline("{type: dataset, dataset_name: ethereum.transactions}")
    assert _only(text, "sources.logs.dataset_name") == (
        "unknown dataset 'ethereum.transactions'",
        "did you mean ethereum.raw_transactions?",
    )


def test_unknown_dataset_lists_the_available_ones() -> None:
    text = _pipeline("{type: dataset, dataset_name: solana.votes}")
    _, hint = _only(text, "sources.logs.dataset_name")
    assert hint == (
        "available for solana: blocks, instructions, token_transfers, transactions"
    )


def test_unknown_chain_says_how_to_add_one() -> None:
    text = _pipeline("{type: dataset, dataset_name: mychain.raw_logs}")
    message, hint = _only(text, "sources.logs.dataset_name")
    assert message == "unknown chain 'mychain'"
    assert hint is not None and "CHAINTAP_RPC_MYCHAIN" in hint


def test_unknown_chain_with_rpc_url_is_fine_but_a_bad_url_is_not() -> None:
    source = "{type: dataset, dataset_name: mychain.raw_logs, rpc_url: 127.0.0.1:8545}"
    message, hint = _only(_pipeline(source), "sources.logs.rpc_url")
    assert "not an http(s) or ws(s) URL" in message
    assert hint == "for example http://127.0.0.1:8545"


def test_unquoted_version_number_hints_quoting() -> None:
    source = "{type: dataset, dataset_name: base.raw_logs, version: 1.1}"
    assert _only(_pipeline(source), "sources.logs.version") == (
        "must be a string, not a number",
        'quote it: "1.1"',
    )


def test_unknown_reference_hints_the_nearest_node() -> None:
    text = _pipeline(sink="{type: blackhole, from: lgos}")
    assert _only(text, "sinks.out.from") == (
        "out reads 'lgos', which is no source or transform",
        "did you mean logs?",
    )


def test_reading_a_sink_is_explained() -> None:
    text = (
        "name: p\n"
        "sources: {logs: {type: dataset, dataset_name: base.raw_logs}}\n"
        "sinks:\n"
        "  a: {type: blackhole, from: logs}\n"
        "  b: {type: blackhole, from: a}\n"
    )
    message, _ = _only(text, "sinks.b.from")
    assert message == "b reads 'a', which is a sink; sinks only write"


@pytest.mark.parametrize(
    ("sink_type", "hint"),
    [
        ("postgress", "did you mean postgres?"),
        ("mongodb", "supported sink types: postgres, file, print, blackhole"),
    ],
)
def test_unknown_sink_type(sink_type: str, hint: str) -> None:
    text = _pipeline(sink=f"{{type: {sink_type}, from: logs}}")
    assert _only(text, "sinks.out.type") == (f"unknown sink type {sink_type!r}", hint)


def test_pipeline_name_gets_a_fixed_suggestion() -> None:
    text = _pipeline().replace("name: p", "name: My_Pipeline v2")
    _, hint = _only(text, "name")
    assert hint == "for example 'my-pipeline-v2'"


def test_long_pipeline_name() -> None:
    text = _pipeline().replace("name: p", "name: " + "a" * 51)
    message, _ = _only(text, "name")
    assert "at most 50 characters" in message


def test_choice_typo_hints_the_choice() -> None:
    text = _pipeline("{type: dataset, dataset_name: base.raw_logs, start_at: earlist}")
    assert _only(text, "sources.logs.start_at")[1] == "did you mean earliest?"


def test_boolean_in_quotes() -> None:
    text = _pipeline("{type: dataset, dataset_name: base.raw_logs, in_order: 'true'}")
    assert _only(text, "sources.logs.in_order")[1] == "remove the quotes: true"


def test_bad_poll_interval() -> None:
    source = "{type: dataset, dataset_name: base.raw_logs, poll_interval: soon}"
    message, hint = _only(_pipeline(source), "sources.logs.poll_interval")
    assert message == "must be a positive duration, not 'soon'"
    assert hint is not None and "500ms" in hint
