"""The examples the OpenAPI document shows for the API's bodies: kept beside the HTTP edge, and
added to the document's schemas by `model_examples`."""

from typing import Any

from producer_service.api.openapi import Schema

EXAMPLE_ID = "0b6f3c4e-8d1a-4c1e-9a57-3f0f1c2b7d10"
_EXAMPLE_VARIANTS = [
    {
        "name": "thumb",
        "width": 320,
        "height": 320,
        "fit": "contain",
        "crop": "centre",
        "format": "webp",
        "quality": 80,
        "upscale": False,
    },
]
JOB_EXAMPLES: dict[str, dict[str, Any]] = {
    "queued": {
        "id": EXAMPLE_ID,
        "status": "queued",
        "attempts": 0,
        "created_at": "2026-11-23T10:00:00Z",
        "updated_at": "2026-11-23T10:00:00Z",
        "priority": "interactive",
        "error": None,
        "variants": _EXAMPLE_VARIANTS,
        "preset": None,
        "source": None,
        "placeholder": None,
        "outputs": [],
        "source_url": None,
        "callback_url": None,
        "webhook": None,
    },
    "succeeded": {
        "id": EXAMPLE_ID,
        "status": "succeeded",
        "attempts": 1,
        "created_at": "2026-11-23T10:00:00Z",
        "updated_at": "2026-11-23T10:00:01Z",
        "priority": "interactive",
        "error": None,
        "variants": _EXAMPLE_VARIANTS,
        "preset": None,
        "source": {"format": "jpeg", "width": 4032, "height": 3024},
        "placeholder": {"thumbhash": "VAgKHYK9moifhoaFmHZ2mHJAAydU", "dominant_color": "#4f6b2a"},
        "outputs": [
            {
                "name": "thumb",
                "format": "webp",
                "width": 320,
                "height": 213,
                "size_bytes": 10422,
                "url": f"/v1/jobs/{EXAMPLE_ID}/outputs/thumb",
            }
        ],
        "source_url": None,
        "callback_url": "https://hooks.example.com/resized",
        "webhook": {"status": "delivered", "attempts": 2, "last_error": "HTTP 503"},
    },
    "failed": {
        "id": EXAMPLE_ID,
        "status": "failed",
        "attempts": 1,
        "created_at": "2026-11-23T10:00:00Z",
        "updated_at": "2026-11-23T10:00:01Z",
        "priority": "interactive",
        "error": {
            "code": "undecodable_image",
            "message": "libvips could not read the image: vipspng: libpng read error",
        },
        "variants": _EXAMPLE_VARIANTS,
        "preset": None,
        "source": None,
        "placeholder": None,
        "outputs": [],
        "source_url": None,
        "callback_url": None,
        "webhook": None,
    },
    "failed_fetch": {
        "id": EXAMPLE_ID,
        "status": "failed",
        "attempts": 1,
        "created_at": "2026-11-23T10:00:00Z",
        "updated_at": "2026-11-23T10:00:01Z",
        "error": {
            "code": "source_http_error",
            "message": "The source answered HTTP 404 Not Found instead of the image.",
        },
        "variants": _EXAMPLE_VARIANTS,
        "preset": None,
        "source": None,
        "placeholder": None,
        "outputs": [],
        "source_url": "https://images.example.com/photo.jpg",
        "callback_url": None,
        "webhook": None,
    },
    "cancelled": {
        "id": EXAMPLE_ID,
        "status": "cancelled",
        "attempts": 1,
        "created_at": "2026-11-23T10:00:00Z",
        "updated_at": "2026-11-23T10:00:01Z",
        "error": None,
        "variants": _EXAMPLE_VARIANTS,
        "preset": None,
        "source": {"format": "jpeg", "width": 4032, "height": 3024},
        "placeholder": None,
        "outputs": [],
        "callback_url": None,
        "webhook": None,
    },
}


STATS_EXAMPLE: dict[str, Any] = {
    "queue": {"name": "image_resize", "ready": 2, "unacked": 1, "consumers": 2},
    "lanes": {
        "interactive": {"ready": 2, "unacked": 1},
        "bulk": {"ready": 1840, "unacked": 7},
    },
    "jobs": {"queued": 1842, "processing": 8, "succeeded": 1204, "failed": 3, "cancelled": 2},
    "oldest_queued_seconds": 12.5,
}


TOKEN_EXAMPLE: dict[str, Any] = {
    "token": "rt_eyJvd25lciI6IjIzOWQ2MTBjM2NiMzg5MWIiLCJpZCI6IkVmQnE1enVUYnRDQnFiWkkiLCJwcmVz"
    "ZXQiOiJhdmF0YXIiLCJleHAiOjE3OTU1NTUyMDB9.ZxLOihNGyJaDXQYc-7mMNgMp_zxlCL2LapojurMtyXU",
    "expires_at": "2026-11-24T21:20:00Z",
}


WEBHOOK_SECRET_EXAMPLE: dict[str, Any] = {
    "secret": "3d41cc021a0ca769f6d4d6bb01bbcb70ce3e347692aa1e337d53d6a0553840a6"
}


# Each body's schema in the document, and its examples.
_MODEL_EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "Job": list(JOB_EXAMPLES.values()),
    "Stats": [STATS_EXAMPLE],
    "BrowserToken": [TOKEN_EXAMPLE],
    "WebhookSecret": [WEBHOOK_SECRET_EXAMPLE],
}


def model_examples(schema: Schema) -> None:
    """Show each body's examples under its schema (an `amend_openapi` amendment)."""
    for name, examples in _MODEL_EXAMPLES.items():
        schema["components"]["schemas"][name]["examples"] = examples
