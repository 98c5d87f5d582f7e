"""infra/ for ingestion by Data Factory (issue 22): the factory, its identity's least-privilege roles, the
identity-based linked service and the pipeline that the lifecycle's parameters and the contract describe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.kernel.contract import load_contract
from core.kernel.datafiles import Containers
from core.kernel.payload import BlobRef
from core.kernel.policy import DataFactoryIngestion, load_policy
from core.training.pipeline_ingest import pipeline_parameters
from tests.integration.azure.test_infra_defects import _resource
from tests.integration.azure.test_infra_files import _block

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
ADF = (INFRA / "app" / "datafactory.bicep").read_text()
RBAC = (INFRA / "app" / "rbac.bicep").read_text()
MAIN = (INFRA / "main.bicep").read_text()
ADF_TYPES = {
    "string": "String",
    "category": "String",
    "int": "Int64",
    "float": "Double",
    "bool": "Boolean",
    "datetime": "DateTime",
}


def test_the_pipeline_declares_exactly_the_parameters_the_lifecycle_sends_with_their_types():
    policy = load_policy(ROOT / "samples" / "churn" / "policy.yaml")
    adf = DataFactoryIngestion(pipeline="raw-to-features")
    policy = policy.model_copy(update={"data": policy.data.model_copy(update={"data_factory": adf})})
    sent = pipeline_parameters(
        policy, "run-1", "dv-1", [BlobRef(container="raw", path="churn/a.csv")], Containers()
    )
    pipeline = _resource(ADF, "pipeline")
    declared = dict(
        re.findall(r"^\s+(\w+): \{ type: '(\w+)' \}$", _block(pipeline, pipeline.index("parameters:")), re.M)
    )
    assert declared == {k: "Array" if isinstance(v, list) else "String" for k, v in sent.items()}
    assert "param pipelineName string = 'raw-to-features'" in ADF


def test_the_copy_maps_every_contract_column_with_its_type_and_nothing_else():
    contract = load_contract(ROOT / "samples" / "churn" / "contract.yaml")
    module = MAIN[MAIN.index("module dataFactory ") :]
    columns = module[module.index("columns: [") : module.index("]", module.index("columns: ["))]
    mapped = re.findall(r"\{ name: '(\w+)', type: '(\w+)' \}", columns)
    assert mapped == [(c.name, ADF_TYPES[c.dtype]) for c in contract.columns]
    assert (
        "mappings: [for c in columns: { source: { name: c.name }, sink: { name: c.name, type: c.type } }]"
        in ADF
    )
    assert "typeConversion: true" in ADF


def test_the_linked_service_authenticates_with_the_factorys_identity_not_a_secret():
    lake = _resource(ADF, "lake")
    assert "serviceEndpoint: 'https://${storageAccountName}.blob." in lake
    for secret in (
        "connectionString",
        "accountKey",
        "sasUri",
        "sasToken",
        "servicePrincipalKey",
        "credential",
    ):
        assert secret not in lake
    assert "identity: { type: 'SystemAssigned' }" in _resource(ADF, "factory")


def test_the_factory_reads_only_raw_and_writes_only_features():
    reads, writes = _resource(RBAC, "factoryReadsRaw"), _resource(RBAC, "factoryWritesFeatures")
    assert "scope: rawContainer" in reads and "roles.blobDataReader" in reads
    assert "scope: featuresContainer" in writes and "roles.storageBlobDataContributor" in writes
    factory_roles = [m for m in re.finditer(r"principalId: dataFactoryPrincipalId", RBAC)]
    assert len(factory_roles) == 2  # no role on the whole account, none elsewhere


def test_the_app_may_start_read_and_cancel_runs_and_not_edit_the_factory():
    role = _resource(ADF, "pipelineRunner")
    actions = re.findall(r"'(Microsoft\.DataFactory/[^']+)'", role)
    assert actions == [
        "Microsoft.DataFactory/factories/read",
        "Microsoft.DataFactory/factories/pipelines/createrun/action",
        "Microsoft.DataFactory/factories/querypipelineruns/action",
        "Microsoft.DataFactory/factories/pipelineruns/read",
        "Microsoft.DataFactory/factories/pipelineruns/cancel/action",
    ]
    assignment = _resource(RBAC, "appRunsPipelines")
    assert "scope: factory" in assignment and "roleDefinitionId: pipelineRunnerRoleId" in assignment
    assert "principalId: managedIdentityPrincipalId" in assignment


def test_the_function_app_is_told_the_factorys_name():
    assert "DATA_FACTORY_NAME: dataFactory.outputs.name" in MAIN
    assert "output DATA_FACTORY_NAME string = dataFactory.outputs.name" in MAIN


def test_the_online_feature_store_is_a_container_keyed_by_entity_with_per_item_ttl():
    store = (INFRA / "app" / "featurestore.bicep").read_text()
    container = _resource(store, "container")
    assert "paths: ['/entityId']" in container and "defaultTtl: -1" in container
    assert "FEATURE_STORE_CONTAINER: featureStore.outputs.containerName" in MAIN
    assert "accountName: cosmos.outputs.name" in MAIN[MAIN.index("module featureStore ") :]


def test_the_endpoint_identity_may_only_read_the_feature_store_container():
    """Serving by entity id on Azure: the scoring script reads vectors with the endpoint's system identity.
    Data Reader (00000000-0000-0000-0000-000000000001), not Contributor, and on the features container
    only, not the account that also holds the run ledger."""
    assert (
        "var cosmosDataReader = '00000000-0000-0000-0000-000000000001' // Cosmos DB Built-in Data Reader"
        in RBAC
    )
    block = _resource(RBAC, "endpointFeatureReader")
    assert block.startswith(
        "resource endpointFeatureReader 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@"
    )
    assert "parent: cosmos" in block
    assert "name: guid(cosmos.id, endpointPrincipalId, cosmosDataReader)" in block
    assert "roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataReader}'" in block
    assert "principalId: endpointPrincipalId" in block
    assert "scope: '${cosmos.id}/dbs/${cosmosDatabaseName}/colls/${featureStoreContainerName}'" in block
    call = MAIN[MAIN.index("module rbac ") :]
    assert "cosmosDatabaseName: cosmosDatabaseName" in call
    assert "featureStoreContainerName: featureStore.outputs.containerName" in call
    # the deployment is told the same database and container (wiring.py -> FeatureStoreLocation)
    assert "COSMOS_DATABASE: cosmosDatabaseName" in MAIN
    assert "FEATURE_STORE_CONTAINER: featureStore.outputs.containerName" in MAIN
