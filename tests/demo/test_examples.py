"""The example pipeline files under examples/ load as chaintap reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaintap.demo.run import LAST_BLOCK_PLACEHOLDER, OUTPUT_PLACEHOLDER, PIPELINE_FILES
from chaintap.spec.loader import load_pipeline, load_pipeline_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_mainnet_example_is_a_bounded_usdc_job_into_postgres() -> None:
    spec = load_pipeline(EXAMPLES / "ethereum-erc20-to-postgres.yaml")
    source = spec.sources["transfers"]
    assert spec.job
    assert source.dataset.qualified_name == "ethereum.erc20_transfers"
    assert source.start_block is not None and source.end_block is not None
    assert "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48" in (source.filter or "")
    sink = spec.sinks["analytics_db"]
    assert sink.type == "postgres"
    assert sink.options["secret_name"] == "ANALYTICS_DB"


@pytest.mark.parametrize("name", PIPELINE_FILES)
def test_demo_templates_load_once_filled_in(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINTAP_RPC_ANVIL", "http://127.0.0.1:9")
    text = (EXAMPLES / "demo" / name).read_text()
    assert LAST_BLOCK_PLACEHOLDER in text and OUTPUT_PLACEHOLDER in text
    filled = text.replace(LAST_BLOCK_PLACEHOLDER, "77").replace(
        OUTPUT_PLACEHOLDER, str(tmp_path)
    )
    spec = load_pipeline_text(filled, name)
    assert spec.job
    assert all(s.end_block == 77 for s in spec.sources.values())
    assert all(s.chain == "anvil" for s in spec.sources.values())
    for sink in spec.sinks.values():
        assert str(sink.options["path"]).startswith(str(tmp_path))
