"""`GET /v1/presets`: the named variant lists a submit may ask for with `preset`."""

from fastapi import APIRouter

from producer_service.api.deps import KeyOrTokenCallerDep, PresetsDep
from producer_service.api.problems import problem_responses
from producer_service.errors import Unauthorized
from producer_service.presets import BUILT_IN
from shared.schemas import PresetList

router = APIRouter(prefix="/v1", tags=["presets"])

_EXAMPLE = PresetList(presets=[p for p in BUILT_IN if p.name == "thumbnail"]).model_dump(
    mode="json"
)


@router.get(
    "/presets",
    summary="List the presets",
    description="Each preset's name and the variants it stands for. A submit sends the name as "
    "`preset`; `default` is what a submit without `variants` or `preset` gets. With a browser "
    "token limited to a preset, only that one: its submits get it whether they name it or not.",
    response_model=PresetList,
    responses={
        200: {
            "description": "Every preset of this deployment.",
            "content": {"application/json": {"example": _EXAMPLE}},
        },
        **problem_responses(Unauthorized),
    },
)
async def list_presets(presets: PresetsDep, caller: KeyOrTokenCallerDep) -> PresetList:
    only = caller.only_preset
    return PresetList(presets=[p for p in presets if only in (None, p.name)])
