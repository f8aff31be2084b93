"""Prepare moto's service models and request routers once, before any thread uses them (the tests' session
fixture; `make local`'s moto server before it starts).

moto builds them lazily on first use, and that first use is not thread-safe: moto's
`ServiceModel.operation_model` and the botocore method it overrides cache their results under the same
instance-cache key. Between botocore storing its `OperationModel` and moto replacing it with its own, another
thread gets botocore's, which lacks moto's additions, and fails with
`AttributeError: 'OperationModel' object has no attribute 'http_trait'` (seen in the memory hooks tests, where
the agent and the memory double call moto from different threads). Resolving every operation of a service and
building its routers up front, under a lock, leaves only cache hits for the threads.
"""

from __future__ import annotations

import threading
from typing import Any

# Every AWS service the tests reach through moto (`mock_aws`). Add a service here when a test starts using it.
SERVICES = ("bedrock-agentcore", "cognito-idp", "dynamodb", "secretsmanager", "sts")

_lock = threading.Lock()


def prepare_model(model: Any) -> None:
    """Resolve (and so cache) moto's `OperationModel` for every operation of a moto `ServiceModel`."""
    for name in model.operation_names:
        model.operation_model(name)


def prepare_services(services: tuple[str, ...] = SERVICES) -> None:
    """Prepare each service's model and build its request router for every protocol it speaks."""
    from moto.core.routing import get_router_class, get_service_router
    from moto.core.utils import get_service_model

    with _lock:
        for service in services:
            model = get_service_model(service)
            prepare_model(model)
            router = get_service_router(service)
            for protocol in model.metadata.get("protocols", [model.protocol]):
                if get_router_class(service, protocol) is not None:
                    router._get_router(protocol)
