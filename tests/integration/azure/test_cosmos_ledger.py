"""CosmosRunLedger against @vercel/cosmosdb-server: the shared RunLedger contract plus Cosmos specifics."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from azure.cosmos import CosmosClient

from adapters.azure.ledger import CosmosRunLedger
from core.kernel.ports import RetrainRequest
from devhost import procs
from devstack.stack import start_cosmos
from tests.integration.ledger_contract import *  # noqa: F403
from tests.integration.ledger_contract import T0

# The stand-in's bundled certificate is self-signed and expired (CN=cosmosdb): verification is off.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

# The stand-in accepts any key; this is the public, documented Cosmos emulator key.
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
_names = itertools.count()


@pytest.fixture(scope="module")
def cosmos_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosClient]:
    port = procs.free_port()
    proc = start_cosmos(port, tmp_path_factory.mktemp("cosmos") / "cosmosdb-server.log")
    try:
        yield CosmosClient(f"https://127.0.0.1:{port}", credential=EMULATOR_KEY, connection_verify=False)
    finally:
        proc.stop()


@pytest.fixture
def ledger(cosmos_client: CosmosClient) -> CosmosRunLedger:
    """A fresh container per test: the contract wants an empty ledger."""
    container = CosmosRunLedger.ensure_container(cosmos_client, "mllifecycle", f"ledger{next(_names)}")
    return CosmosRunLedger(container)


def test_runs_entries_and_requests_share_the_models_partition(ledger):
    ledger.put_run(RunRecord(run_id="r1", model="churn", status="running", stage="train"))  # noqa: F405
    ledger.append("r1", "gate", {"verdict": "pass"})
    ledger.add_request(
        RetrainRequest(request_id="q1", model="churn", source="blob", dedupe_key="u|e", received_at=T0)
    )
    ledger.consume_requests("churn", ["q1"], "r1")
    docs = list(ledger._c.query_items("SELECT * FROM c WHERE c.model = 'churn'", partition_key="churn"))
    assert sorted(d["type"] for d in docs) == ["entry", "request", "run"]
    assert {d["id"].split(":")[0] for d in docs} == {"run", "entry", "request"}


def test_the_same_delivery_may_start_two_different_models(ledger):
    def req(model: str) -> RetrainRequest:
        return RetrainRequest(
            request_id=f"q-{model}", model=model, source="blob", dedupe_key="url|etag", received_at=T0
        )

    assert ledger.add_request(req("churn")) is True
    assert ledger.add_request(req("fraud")) is True
    assert ledger.add_request(req("churn")) is False


def test_a_run_cannot_change_model(ledger):
    ledger.put_run(RunRecord(run_id="r1", model="churn", status="running", stage="train"))  # noqa: F405
    with pytest.raises(ValueError, match="cannot move between models"):
        ledger.put_run(RunRecord(run_id="r1", model="fraud", status="running", stage="train"))  # noqa: F405


def test_a_second_ledger_instance_finds_runs_written_by_the_first(ledger):
    ledger.put_run(RunRecord(run_id="r1", model="churn", status="running", stage="train"))  # noqa: F405
    ledger.append("r1", "step", {"n": 1})
    other = CosmosRunLedger(ledger._c)  # another Functions worker: empty run->model cache
    assert other.get_run("r1").model == "churn"
    assert [e.data for e in other.entries("r1")] == [{"n": 1}]
    assert other.update_run("r1", stage="evaluate").stage == "evaluate"
