"""The OpenAPI document and its docs page: every route, every answer, with examples."""

import re

from pydantic import SecretStr

from producer_service.forms import FORM_FIELDS, TEXT_FIELDS
from shared.schemas import ErrorCode
from tests.support.served import Serve


async def test_the_openapi_document_describes_every_route_with_examples(serve: Serve) -> None:
    async with serve() as served:
        spec = (await served.api.http.get("/openapi.json")).json()
        docs = await served.api.http.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    # Every /v1 route can answer 422: a query parameter it does not declare.
    expected = {
        ("/v1/jobs", "post"): {"202", "409", "413", "415", "422", "503"},
        ("/v1/jobs/{job_id}", "get"): {"200", "404", "422", "503"},
        ("/v1/jobs/{job_id}", "delete"): {"204", "404", "409", "422", "503"},
        ("/v1/jobs/{job_id}/outputs/{name}", "get"): {"200", "304", "404", "409", "422", "503"},
        ("/v1/jobs/{job_id}/outputs/{name}", "head"): {"200", "304", "404", "409", "422", "503"},
        ("/v1/jobs", "get"): {"200", "422", "503"},
        ("/v1/jobs/{job_id}/retry", "post"): {"202", "404", "409", "422", "503"},
        ("/v1/jobs/{job_id}/cancel", "post"): {"202", "404", "409", "422", "503"},
        ("/v1/jobs/{job_id}/events", "get"): {"200", "204", "404", "422", "503"},
        ("/v1/presets", "get"): {"200", "422"},
        ("/v1/stats", "get"): {"200", "422", "503"},
        ("/v1/tokens", "post"): {"201", "409", "413", "422"},
        ("/v1/webhook-secret", "get"): {"200", "409", "422"},
        ("/healthz", "get"): {"200"},
        ("/readyz", "get"): {"200", "503"},
    }
    for (path, method), statuses in expected.items():
        operation = spec["paths"][path][method]
        assert operation["summary"]
        # Only what the route can answer: no 401 without keys, no 429 without a job limit.
        assert operation["responses"].keys() == statuses, (path, operation["responses"].keys())
        for status, response in operation["responses"].items():
            # Every answer with a body shows what it looks like (a 304 has none).
            for media_type, content in response.get("content", {}).items():
                binary = content.get("schema", {}).get("format") == "binary"
                assert binary or "example" in content or "examples" in content, (
                    path,
                    status,
                    media_type,
                )
    body = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert "required" not in body["schema"]  # `file` or `source_url`
    assert spec["components"]["schemas"]["Job"]["examples"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_swagger_ui_fills_the_submit_form_with_nothing_but_the_file(serve: Serve) -> None:
    """Swagger UI's Try it out fills each form field with its schema's `example` (or `examples`,
    or, with neither, a made-up "string"), unless its `default` says otherwise: with only a file
    chosen, `variants`, `preset`, `callback_url` and `source_url` must go blank, or the submit is
    422 (tests/browser/test_docs.py clicks through the real page). The examples are whole forms."""
    async with serve() as served:
        spec = (await served.api.http.get("/openapi.json")).json()
    body = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    fields = body["schema"]["properties"]
    assert fields.keys() == FORM_FIELDS
    for name in TEXT_FIELDS:
        assert fields[name]["default"] == "", name
        assert not fields[name].keys() & {"example", "examples"}, name
    examples = [example["value"] for example in body["examples"].values()]
    assert all(example.keys() <= FORM_FIELDS for example in examples)
    assert all(len(example.keys() & {"file", "source_url"}) == 1 for example in examples)
    assert {name for example in examples for name in example} == FORM_FIELDS


async def test_routes_ask_for_a_bearer_key_only_when_keys_are_on(serve: Serve) -> None:
    async with serve() as served:
        open_spec = (await served.api.http.get("/openapi.json")).json()
    async with serve(api_keys=SecretStr("k-1"), max_active_jobs_per_key=3) as served:
        keyed_spec = (await served.api.http.get("/openapi.json")).json()
    for spec, required in ((open_spec, None), (keyed_spec, [{"HTTPBearer": []}])):
        for path, operations in spec["paths"].items():
            if path.startswith("/v1/"):
                for operation in operations.values():
                    assert operation.get("security") == required, path
                    assert ("401" in operation["responses"]) == bool(required), path
    for path in ("/v1/jobs", "/v1/jobs/{job_id}/retry"):
        assert "429" in keyed_spec["paths"][path]["post"]["responses"], path


async def test_with_keys_the_routes_a_browser_token_may_not_use_list_403(serve: Serve) -> None:
    async with serve(api_keys=SecretStr("k-1")) as served:
        spec = (await served.api.http.get("/openapi.json")).json()
    paths = spec["paths"]
    key_only = {
        ("/v1/tokens", "post"),
        ("/v1/jobs/{job_id}", "delete"),
        ("/v1/jobs/{job_id}/retry", "post"),
        ("/v1/jobs/{job_id}/cancel", "post"),
        ("/v1/stats", "get"),
        ("/v1/webhook-secret", "get"),
    }
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path.startswith("/v1/"):
                assert ("403" in operation["responses"]) == ((path, method) in key_only), path
    conflicts = paths["/v1/webhook-secret"]["get"]["responses"]["409"]["content"]
    # Keys are on: the secret is only missing where WEBHOOK_SECRET is.
    assert conflicts["application/problem+json"]["examples"].keys() == {"webhooks-not-configured"}
    mint = paths["/v1/tokens"]["post"]
    assert mint["responses"].keys() == {"201", "401", "403", "413", "422"}  # no 409: keys are on
    assert mint["requestBody"]["content"]["application/json"]["examples"]
    bearer = spec["components"]["securitySchemes"]["HTTPBearer"]["description"]
    assert "POST /v1/tokens" in bearer


async def test_every_problem_type_resolves_to_a_page_that_explains_it(serve: Serve) -> None:
    async with serve(api_keys=SecretStr("k-1"), max_active_jobs_per_key=3) as served:
        http = served.api.http
        spec = (await http.get("/openapi.json")).json()
        types = {
            example["value"]["type"]
            for operations in spec["paths"].values()
            for operation in operations.values()
            for response in operation["responses"].values()
            for content in response.get("content", {}).values()
            for example in [
                *content.get("examples", {}).values(),
                *([{"value": content["example"]}] if "example" in content else []),
            ]
            if "type" in example["value"]
        }
        types |= {
            (await http.get("/nowhere")).json()["type"],
            (await http.put("/v1/jobs")).json()["type"],
        }
        pages = {problem_type: await http.get(problem_type) for problem_type in types}
        index = await http.get("/problems")
        unknown = await http.get("/problems/no-such-problem")
    assert len(types) >= 15
    for problem_type, page in pages.items():
        assert page.status_code == 200, problem_type
        assert page.headers["content-type"].startswith("text/html")
        assert f"<code>{problem_type}</code>" in page.text
    too_many = pages["/problems/too-many-active-jobs"].text
    assert "<code>MAX_ACTIVE_JOBS_PER_KEY</code>" in too_many
    assert all(f'href="{problem_type}"' in index.text for problem_type in types)
    assert unknown.status_code == 404


async def test_a_failed_jobs_error_code_is_documented_as_the_enum_of_real_codes(
    serve: Serve,
) -> None:
    async with serve() as served:
        spec = (await served.api.http.get("/openapi.json")).json()
    code = spec["components"]["schemas"]["ErrorCode"]
    assert set(code["enum"]) == {c.value for c in ErrorCode}
    assert "too_many_pages" in code["enum"]


async def test_the_docs_pages_load_everything_from_the_api_itself(serve: Serve) -> None:
    """No CDN: /docs and /redoc work on a machine without internet."""
    async with serve() as served:
        http = served.api.http
        pages = {url: await http.get(url) for url in ("/docs", "/redoc")}
        scripts = [
            await http.get(f"/docs-assets/{name}")
            for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
        ]
    for url, page in pages.items():
        assert page.status_code == 200, url
        assert "/docs-assets/" in page.text
        assert not re.search(r"https?://", page.text), url
    assert [script.status_code for script in scripts] == [200, 200, 200]
    assert all(len(script.content) > 100_000 for script in scripts)
