"""OpenAI embeddings <-> Cohere v2 embed."""

from __future__ import annotations

import base64
import struct

import pytest

from newapi_cohere.embeddings_via_cohere import CONVERTER, convert_request, convert_response
from newapi_host.sdk import ConvertContext, InvalidRequest, SSEEvent


def ctx() -> ConvertContext:
    return ConvertContext(model="embed-v4.0", options={})


def test_the_converter_goes_from_openai_embeddings_to_cohere_embed():
    assert (CONVERTER.source, CONVERTER.target) == ("openai.embeddings", "cohere.embed")


def test_request():
    assert convert_request({"model": "embed-v4.0", "input": "hello"}, ctx()) == {
        "model": "embed-v4.0",
        "texts": ["hello"],
        "embedding_types": ["float"],
    }
    out = convert_request(
        {"model": "embed-v4.0", "input": ["a", "b"], "dimensions": 256, "input_type": "search_query"}, ctx()
    )
    assert (out["texts"], out["output_dimension"], out["input_type"]) == (["a", "b"], 256, "search_query")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"input": [[1, 2, 3]]}, "token-id"),
        ({"input": []}, "non-empty"),
        ({"input": 5}, "string"),
        ({"input": "a", "dimensions": 0}, "dimensions"),
        ({"input": "a", "input_type": "image"}, "input_type"),
    ],
)
def test_request_refusals(body, fragment):
    with pytest.raises(InvalidRequest, match=fragment):
        convert_request({"model": "embed-v4.0", **body}, ctx())


ANSWER = {
    "id": "e1",
    "embeddings": {"float": [[0.5, -0.25], [1.0, 0.0]]},
    "texts": ["a", "b"],
    "meta": {"billed_units": {"input_tokens": 6}},
    "response_type": "embeddings_by_type",
}


def test_response_as_floats():
    c = ctx()
    convert_request({"model": "embed-v4.0", "input": ["a", "b"], "encoding_format": "float"}, c)
    assert convert_response(ANSWER, c) == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
            {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]},
        ],
        "model": "embed-v4.0",
        "usage": {"prompt_tokens": 6, "total_tokens": 6},
    }


def test_response_as_base64_when_the_client_asked_for_it():
    c = ctx()
    convert_request({"model": "embed-v4.0", "input": ["a", "b"], "encoding_format": "base64"}, c)
    data = convert_response(ANSWER, c)["data"]
    decoded = [list(struct.unpack("<2f", base64.b64decode(d["embedding"]))) for d in data]
    assert decoded == [[0.5, -0.25], [1.0, 0.0]]


def test_response_without_float_embeddings_is_an_upstream_error():
    with pytest.raises(ValueError, match="float embeddings"):
        convert_response({"embeddings": {"int8": [[1]]}}, ctx())
    assert convert_response({"embeddings": [[0.1]]}, ctx())["data"][0]["embedding"] == [0.1]  # embeddings_floats


def test_embeddings_do_not_stream():
    stream = CONVERTER.stream(ctx())
    with pytest.raises(ValueError):
        stream.feed(SSEEvent(data="{}"))
    assert stream.finish() == []
