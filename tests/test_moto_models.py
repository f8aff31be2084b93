"""moto's first use from two threads at once, replayed deterministically: the second thread arrives while the
first is between botocore caching its `OperationModel` and moto replacing it (see local/moto_models.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from moto.core import model as moto_model
from moto.core.utils import _load_service_model

from local.moto_models import SERVICES, prepare_model

OPERATION = "CreateEvent"  # the memory hooks' first call


def fresh_model(service: str = "bedrock-agentcore") -> Any:
    """A moto ServiceModel nothing has used yet (moto's own is cached and already prepared for the suite)."""
    return moto_model.ServiceModel(_load_service_model(service, "service-2"), service)


def second_thread_sees(model: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Thread A asks for OPERATION and is held just before moto builds its model; then this thread asks."""
    arrived, release = threading.Event(), threading.Event()
    build = moto_model.OperationModel.__init__

    def held_build(self: Any, *args: Any, **kwargs: Any) -> None:
        arrived.set()
        release.wait(timeout=10)
        build(self, *args, **kwargs)

    def first() -> None:
        model.operation_model(OPERATION)
        arrived.set()  # nothing to build (already cached): thread A is simply done

    monkeypatch.setattr(moto_model.OperationModel, "__init__", held_build)
    thread = threading.Thread(target=first)
    thread.start()
    assert arrived.wait(timeout=10)
    seen = model.operation_model(OPERATION)
    release.set()
    thread.join(timeout=10)
    return seen


def test_unprepared_model_gives_the_second_thread_botocores_operation_model(monkeypatch):
    seen = second_thread_sees(fresh_model(), monkeypatch)

    assert not isinstance(seen, moto_model.OperationModel)
    with pytest.raises(AttributeError, match="http_trait"):
        _ = seen.http_trait


def test_prepared_model_gives_every_thread_motos_operation_model(monkeypatch):
    model = fresh_model()
    prepare_model(model)

    seen = second_thread_sees(model, monkeypatch)

    assert isinstance(seen, moto_model.OperationModel)
    assert seen.http_trait.method == "POST"


@pytest.mark.parametrize("service", SERVICES)
def test_the_suite_prepares_every_operation_of_the_services_it_uses(service):
    from moto.core.utils import get_service_model

    model = get_service_model(service)
    cached = {key[1][0]: value for key, value in model._instance_cache.items() if key[0] == "operation_model"}

    assert set(cached) == set(model.operation_names)
    assert all(isinstance(operation, moto_model.OperationModel) for operation in cached.values())
