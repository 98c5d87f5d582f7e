"""The activities blueprint: each module of the package registers its functions on `bp`."""

import azure.durable_functions as df

bp = df.Blueprint()
