"""The OpenAPI 3.1 description of the daemon's routes (served at ``/v1/openapi.json``).

A test checks that every route the app registers is described here, and nothing else. The analysis
result's schemas are generated from the records in ``deepsentry.detector.result``.
"""

from __future__ import annotations

from typing import Any

from deepsentry import __version__
from deepsentry.detector.result import AnalysisResult
from deepsentry.records import json_schemas
from deepsentry.settings import Settings

_ERROR = {"$ref": "#/components/schemas/Error"}


def _err(*codes: int) -> dict[str, Any]:
    text = {400: "bad request (malformed JSON, bad URL, bad frames)", 401: "missing or wrong token",
            403: "foreign Origin or Host, or a refused URL", 404: "unknown job", 413: "over a size limit",
            415: "not a supported media type", 422: "corrupt media", 429: "queue full (see Retry-After)",
            502: "the URL could not be fetched", 503: "component unavailable"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR}}} for c in codes}


def _job_responses(*codes: int) -> dict[str, Any]:
    return {
        "200": {"description": "finished job (with ?wait=1, or a cached result)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
        "202": {"description": "job accepted", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
        **_err(*codes),
    }


_WAIT = {"name": "wait", "in": "query", "schema": {"type": "boolean"}, "description": "answer once the job is finished"}
_EXPLAIN = {"name": "explain", "in": "query", "schema": {"type": "boolean"}, "description": "add Grad-CAM heatmaps"}
_NOCACHE = {"name": "nocache", "in": "query", "schema": {"type": "boolean"},
            "description": "analyse again even when a recent result for the same content is cached"}
_PROVENANCE = {"name": "provenance", "in": "query", "schema": {"type": "boolean"},
               "description": "false: answer with the verdict alone (provenance null), without waiting for "
                              "the provenance check"}
_FILE = {"type": "string", "format": "binary", "minLength": 1}
_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}


def spec(settings: Settings | None = None) -> dict[str, Any]:
    server = settings.url if settings else "http://127.0.0.1:8765"
    url_body = {"type": "object", "properties": {"url": {"type": "string", "format": "uri"},
                                                 "explain": {"type": "boolean"}, "nocache": {"type": "boolean"},
                                                 "provenance": {"type": "boolean"}},
                "required": ["url"], "additionalProperties": False}
    verify_input = {
        "multipart/form-data": {"schema": {"type": "object", "properties": {"file": _FILE}, "required": ["file"],
                                           "additionalProperties": False}},
        "application/json": {"schema": {**url_body, "properties": {"url": url_body["properties"]["url"]}}},
    }
    media_input = {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": _FILE, "explain": {"type": "boolean"}, "nocache": {"type": "boolean"},
            "provenance": {"type": "boolean"}}, "required": ["file"], "additionalProperties": False}},
        "application/json": {"schema": {"oneOf": [
            url_body,
            {"type": "object", "properties": {
                "frames": {"type": "array", "items": {"type": "object", "properties": {
                    "t": {"type": "number", "minimum": 0}, "jpeg": {"type": "string", "contentEncoding": "base64"}},
                    "required": ["jpeg"]}},
                "page_url": {"type": "string"}, "media_url": {"type": "string"}, "explain": {"type": "boolean"},
                "nocache": {"type": "boolean"}},
             "required": ["frames"], "additionalProperties": False},
        ]}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "deepsentry daemon", "version": __version__,
                 "description": "Local deepfake detection and provenance. Every route but /v1/health needs "
                                "`Authorization: Bearer <token>` (see `deepsentry pair`)."},
        "servers": [{"url": server}],
        "security": [{"bearer": []}],
        "paths": {
            "/v1/health": {"get": {"summary": "liveness", "security": [],
                                   "responses": {"200": {"description": "up", "content": {"application/json": {
                                       "schema": {"type": "object", "properties": {"status": {"const": "ok"}}}}}}}}},
            "/v1/info": {"get": {"summary": "version, device, model and limits",
                                 "responses": {"200": {"description": "daemon info"}, **_err(401, 403)}}},
            "/v1/pair": {"post": {"summary": "trade a pairing code from `deepsentry pair` for the token "
                                             "(extension origins only, rate-limited)", "security": [],
                                  "requestBody": {"content": {"application/json": {"schema": {
                                      "type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}}}},
                                  "responses": {"200": {"description": "the token"}, **_err(400, 401, 403, 429)}}},
            "/v1/analyze": {"post": {"summary": "analyse a file, a URL or captured frames",
                                     "parameters": [_WAIT, _EXPLAIN, _NOCACHE, _PROVENANCE],
                                     "requestBody": {"required": True, "content": media_input},
                                     "responses": _job_responses(400, 401, 403, 413, 415, 422, 429, 502)}},
            "/v1/verify": {"post": {"summary": "provenance check of a file or URL", "parameters": [_WAIT],
                                    "requestBody": {"required": True, "content": verify_input},
                                    "responses": _job_responses(400, 401, 403, 413, 415, 422, 429, 502, 503)}},
            "/v1/generate": {"post": {"summary": "consented face swap or animation (watermarked, signed, registered)",
                                      "parameters": [_WAIT],
                                      "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                                          "type": "object", "properties": {
                                              "mode": {"enum": ["swap", "animate"]},
                                              "consent": _FILE, "source": _FILE, "target": _FILE,
                                              "track": {"type": "integer"}},
                                          "required": ["mode", "consent", "source", "target"],
                                          "additionalProperties": False}}}},
                                      "responses": _job_responses(400, 401, 403, 413, 415, 422, 429, 503)}},
            "/v1/report": {"post": {"summary": "a shareable HTML or PDF report of an analysis result",
                                    "parameters": [{"name": "format", "in": "query",
                                                    "schema": {"enum": ["html", "pdf"], "default": "html"}}],
                                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                                        "type": "object", "required": ["result"], "properties": {
                                            "result": {"type": "object", "description": "an analyze result"},
                                            "analysed_at": {"type": "string"}, "media_url": {"type": "string"},
                                            "page_url": {"type": "string"}}}}}},
                                    "responses": {"200": {"description": "text/html or application/pdf"},
                                                  **_err(400, 401, 403, 413)}}},
            "/v1/jobs/{job_id}": {"get": {"summary": "job status, progress and result", "parameters": [_JOB_ID, _WAIT],
                                          "responses": {"200": {"description": "job", "content": {"application/json": {
                                              "schema": {"$ref": "#/components/schemas/Job"}}}}, **_err(400, 401, 404)}}},
            "/v1/jobs/{job_id}/events": {"get": {"summary": "progress as server-sent events (progress, done, error)",
                                                 "parameters": [_JOB_ID],
                                                 "responses": {"200": {"description": "text/event-stream"}, **_err(401, 404)}}},
            "/v1/jobs/{job_id}/file": {"get": {"summary": "the output video of a finished generate job",
                                               "parameters": [_JOB_ID],
                                               "responses": {"200": {"description": "video/mp4"}, **_err(401, 404)}}},
            "/v1/openapi.json": {"get": {"summary": "this document", "responses": {"200": {"description": "OpenAPI"},
                                                                                   **_err(401, 403)}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}}}}},
                "Job": {"type": "object", "required": ["job_id", "status", "progress"], "properties": {
                    "job_id": {"type": "string"}, "kind": {"enum": ["analyze", "verify", "generate"]},
                    "status": {"enum": ["queued", "running", "done", "error"]},
                    "progress": {"type": "number"}, "stage": {"type": "string"},
                    "result": {"anyOf": [{"$ref": "#/components/schemas/AnalysisResult"}, {"type": "object"}, {"type": "null"}]},
                    "error": {"type": ["object", "null"]}}},
                **json_schemas(AnalysisResult),
            },
        },
    }
