"""What routes get from the app: the objects the lifespan built, as `Annotated` aliases."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from producer_service.jobs import JobService
from producer_service.publisher import TaskPublisher
from producer_service.storage import LocalStorage
from producer_service.store import JobStore
from shared.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    jobs: JobService
    store: JobStore
    storage: LocalStorage
    publisher: TaskPublisher


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
