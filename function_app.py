"""The Function App: wiring only. Every function lives in a blueprint of triggers/, orchestrators/
or activities/; the adapters behind the activities are built once, in wiring.py."""

import gc

import azure.durable_functions as df
import azure.functions as func

from activities import bp as activities_bp
from orchestrators import bp as orchestrators_bp
from triggers import bp as triggers_bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (triggers_bp, orchestrators_bp, activities_bp):
    app.register_functions(blueprint)

# What import made (the SDKs, the pydantic schemas, the registered functions: ~100,000 objects) lives
# as long as the worker; out of the collector's reach, a full collection during an event storm scans
# only what the requests made (about 36 ms less pause per collection; bench.events).
gc.freeze()
