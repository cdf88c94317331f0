"""The README's client examples: the SigV4 signature is checked by an independent implementation of
the algorithm (as API Gateway checks it), with the secret only the verifier and the signer know."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
import urllib.request

from botocore.credentials import Credentials

from examples.call_api import api_key_request, sigv4_request

URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/predict"
BODY = json.dumps({"instances": [[1.0] * 30]}).encode()
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def verify_sigv4(request: urllib.request.Request, secret: str, *, service: str, region: str) -> bool:
    """SigV4 as the receiving service checks it (docs.aws.amazon.com, 'Create a signed AWS API request')."""
    headers = {k.lower(): v for k, v in request.header_items()}
    algorithm, _, fields = headers["authorization"].partition(" ")
    parts = dict(item.strip().split("=", 1) for item in fields.split(","))
    _, date, scope_region, scope_service, terminator = parts["Credential"].split("/")
    if (algorithm, scope_region, scope_service, terminator) != (
        "AWS4-HMAC-SHA256",
        region,
        service,
        "aws4_request",
    ):
        return False
    signed = parts["SignedHeaders"].split(";")
    url = urllib.parse.urlsplit(request.full_url)
    headers.setdefault("host", url.netloc)
    if "host" not in signed or "x-amz-date" not in signed:
        return False
    body = request.data if isinstance(request.data, bytes) else b""
    canonical = "\n".join(
        [
            request.get_method(),
            urllib.parse.quote(url.path or "/"),
            url.query,
            "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", headers["x-amz-date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), "aws4_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["Signature"])


def test_the_sigv4_example_signs_for_execute_api_in_the_api_region() -> None:
    request = sigv4_request(URL, BODY, Credentials("AKIDEXAMPLE", SECRET), "eu-west-1")
    assert verify_sigv4(request, SECRET, service="execute-api", region="eu-west-1")


def test_the_verifier_rejects_a_wrong_secret_a_tampered_body_or_another_service() -> None:
    request = sigv4_request(URL, BODY, Credentials("AKIDEXAMPLE", SECRET), "eu-west-1")
    assert not verify_sigv4(request, SECRET + "x", service="execute-api", region="eu-west-1")
    assert not verify_sigv4(request, SECRET, service="lambda", region="eu-west-1")
    tampered = urllib.request.Request(
        URL, data=BODY.replace(b"1.0", b"2.0", 1), headers=dict(request.header_items())
    )
    assert not verify_sigv4(tampered, SECRET, service="execute-api", region="eu-west-1")


def test_the_api_key_example_sends_the_key_header() -> None:
    request = api_key_request(URL, BODY, "k-123")
    assert dict(request.header_items())["X-api-key"] == "k-123" and request.get_method() == "POST"


def test_a_function_url_is_signed_for_lambda() -> None:
    url = "https://abc123.lambda-url.eu-west-1.on.aws/predict"
    request = sigv4_request(url, BODY, Credentials("AKIDEXAMPLE", SECRET), "eu-west-1")
    assert verify_sigv4(request, SECRET, service="lambda", region="eu-west-1")
