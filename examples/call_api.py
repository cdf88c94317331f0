"""Calling the deployed API: with an API key (serving.api_auth=api_key) or SigV4 (api_auth=iam).

    python -m examples.call_api https://<id>.execute-api.<region>.amazonaws.com/prod/ --key <api key>
    python -m examples.call_api https://<id>.execute-api.<region>.amazonaws.com/prod/ --iam
    python -m examples.call_api https://<id>.execute-api.<region>.amazonaws.com/ --iam   (api_type=http)
    python -m examples.call_api https://<id>.lambda-url.<region>.on.aws/ --iam   (api_type=function_url)

With --iam the request is signed with the caller's AWS credentials (the usual chain: environment,
profile, SSO, instance role) for the service `execute-api` (REST and HTTP APIs; the caller needs
`execute-api:Invoke` on the API's ARN) or `lambda` (a function URL; `lambda:InvokeFunctionUrl`).
With api_auth=jwt send `Authorization: Bearer <token>` from your identity provider instead.
Nothing but botocore (which boto3 installs) is needed.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from typing import Any

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def api_key_request(url: str, body: bytes, api_key: str) -> urllib.request.Request:
    """api_auth=api_key: the key in the `x-api-key` header."""
    headers = {"Content-Type": "application/json", "x-api-key": api_key}
    return urllib.request.Request(url, data=body, headers=headers, method="POST")


def signing_service(url: str) -> str:
    """`lambda` for a function URL (api_type=function_url), `execute-api` for API Gateway."""
    return "lambda" if ".lambda-url." in url.split("/")[2] else "execute-api"


def sigv4_request(url: str, body: bytes, credentials: Credentials, region: str) -> urllib.request.Request:
    """api_auth=iam: the request signed with SigV4 for API Gateway or a function URL."""
    unsigned = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials, signing_service(url), region).add_auth(unsigned)
    return urllib.request.Request(url, data=body, headers=dict(unsigned.headers.items()), method="POST")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="POST one row to <stage url>predict")
    parser.add_argument("stage_url", help="the ApiUrl output (ends in /prod/ for a REST API)")
    auth = parser.add_mutually_exclusive_group(required=True)
    auth.add_argument("--key", help="an API key of the usage plan")
    auth.add_argument("--iam", action="store_true", help="sign with your AWS credentials")
    parser.add_argument("--row", default="[" + ",".join(["1.0"] * 30) + "]", help="one row as JSON")
    args = parser.parse_args(argv)
    url = args.stage_url.rstrip("/") + "/predict"
    body = json.dumps({"instances": [json.loads(args.row)]}).encode()
    if args.iam:
        session = botocore.session.get_session()
        credentials = session.get_credentials()
        if credentials is None:
            parser.error("no AWS credentials found (environment, profile or role)")
        host = url.split("/")[2]
        known = ".execute-api." in host or ".lambda-url." in host
        region = host.split(".")[2] if known else session.get_config_variable("region")
        request = sigv4_request(url, body, credentials, region)
    else:
        request = api_key_request(url, body, args.key)
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: Any = json.loads(response.read())
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
