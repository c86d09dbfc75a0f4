"""The OpenAPI 3.1 document of the HTTP API, generated from the table of tools."""

from __future__ import annotations

from typing import Any

from tradestore import __version__
from tradestore.api._tools import TOOLS, Tool

PREFIX = "/api/v1"

# status -> (component name, description), for the answers other than 200.
ERRORS = {
    400: ("BadArgument", "An argument cannot be read or is not allowed; `message` says which."),
    401: ("Unauthorized", "The bearer token is missing or wrong."),
    404: ("NotFound", "Nothing is stored for the symbol."),
    422: ("InsufficientData", "The window holds too few trades for the analysis."),
    503: (
        "Unavailable",
        "The store cannot be read now (not created yet, failing), or the server is busy; "
        "retry later.",
    ),
}
ANALYSES = {"profile", "vacuums"}


def openapi_document(*, token_required: bool, tools: tuple[Tool, ...] = TOOLS) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "tradestore-trio",
            "version": __version__,
            "description": "Read-only access to recorded Binance aggregate trades and the "
            "analytics over them. Every endpoint answers GET with a JSON object, the same "
            "document `tradestore-trio COMMAND --format json` prints. Errors are "
            '`{"error": CODE, "message": TEXT, "status": N}`.',
        },
        "paths": {f"{PREFIX}/{t.path}": {"get": _operation(t, token_required)} for t in tools},
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string", "description": "a stable code"},
                        "message": {"type": "string", "description": "one line for people"},
                        "status": {"type": "integer"},
                    },
                    "required": ["error", "message", "status"],
                }
            },
            "responses": {
                name: {
                    "description": text,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
                for name, text in ERRORS.values()
            },
        },
    }
    doc["paths"][f"{PREFIX}/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {"200": {"description": "the OpenAPI document"}},
        }
    }
    if token_required:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc


def _operation(tool: Tool, token_required: bool) -> dict[str, Any]:
    statuses = [400, 404, 503]
    if tool.path in ANALYSES:
        statuses.append(422)
    if token_required:
        statuses.append(401)
    responses: dict[str, Any] = {
        "200": {
            "description": f"the document of `tradestore-trio {tool.command}`",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }
    for status in sorted(statuses):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    return {
        "operationId": tool.name,
        "summary": tool.summary,
        "description": tool.description,
        "parameters": [
            {
                "name": p.name,
                "in": "query",
                "required": p.required,
                "description": p.description,
                "schema": {k: v for k, v in p.schema().items() if k != "description"},
            }
            for p in tool.params
        ],
        "responses": responses,
    }
