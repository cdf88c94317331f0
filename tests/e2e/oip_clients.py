"""Calls the local API with unmodified Open Inference Protocol clients; run by the clients' own
Python (.venv-clients: tritonclient[http] and kserve, requirements-clients.txt), never imported by
the project. Prints one JSON document: what each client read back.

    python oip_clients.py <base url with stage> <api key> <model name> <rows as JSON> [<version>]
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any
from urllib.parse import urlsplit

import numpy as np


def triton(url: str, key: str, model: str, rows: np.ndarray, version: str) -> dict[str, Any]:
    import tritonclient.http as httpclient  # type: ignore[import-not-found]  # .venv-clients only

    parts = urlsplit(url)
    client = httpclient.InferenceServerClient(url=f"{parts.netloc}{parts.path}")
    headers = {"x-api-key": key}
    metadata = client.get_model_metadata(model, model_version=version, headers=headers)
    tensor = httpclient.InferInput(metadata["inputs"][0]["name"], list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=False)
    outputs = [httpclient.InferRequestedOutput(o["name"], binary_data=False) for o in metadata["outputs"]]
    result = client.infer(model, [tensor], model_version=version, outputs=outputs, headers=headers)
    response = result.get_response()
    return {
        "live": client.is_server_live(headers=headers),
        "ready": client.is_model_ready(model, model_version=version, headers=headers),
        "metadata": metadata,
        "model_version": response["model_version"],
        "outputs": {o["name"]: result.as_numpy(o["name"]).tolist() for o in metadata["outputs"]},
    }


def kserve(url: str, key: str, model: str, rows: np.ndarray, input_name: str) -> dict[str, Any]:
    from kserve import (  # type: ignore[import-not-found]  # .venv-clients only
        InferenceRESTClient,
        InferInput,
        InferRequest,
        RESTConfig,
    )

    async def call() -> dict[str, Any]:
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=60))
        headers = {"x-api-key": key}
        base = url + "/"
        tensor = InferInput(name=input_name, shape=list(rows.shape), datatype="FP32")
        tensor.set_data_from_numpy(rows, binary_data=False)
        ready = await client.is_server_ready(base, headers=headers)
        request = InferRequest(model_name=model, infer_inputs=[tensor], request_id="kserve-client")
        answered: dict[str, str] = {}
        response = await client.infer(
            base, request, model_name=model, headers=headers, response_headers=answered
        )
        await client.close()
        return {  # kserve's InferResponse drops the body's model_version: the header says it
            "ready": ready,
            "model_name": response.model_name,
            "model_version": answered.get("x-function-version"),
            "id": response.id,
            "outputs": {o.name: o.as_numpy().tolist() for o in response.outputs},
        }

    return asyncio.run(call())


def main() -> None:
    url, key, model, rows_json = sys.argv[1:5]
    version = sys.argv[5] if len(sys.argv) > 5 else ""
    rows = np.asarray(json.loads(rows_json), dtype=np.float32)
    answers = {"triton": triton(url, key, model, rows, version)}
    answers["kserve"] = kserve(url, key, model, rows, answers["triton"]["metadata"]["inputs"][0]["name"])
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
